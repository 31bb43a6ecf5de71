#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Render a quicklook
doc: |
  Opens one PDS product with `pdr.read`, takes the first 2-D numeric array among its
  objects (the first band of a 3-D one), scales it to 0-255 between its 1st and 99th
  percentiles and writes `<product>.png` in grey with matplotlib. A product without an
  image writes no PNG and a note on stderr; the step still succeeds (the output is
  optional). Runs `render.py` in the Python environment of the `psa-lab` datalab (pdr,
  matplotlib), named by the `datalabs:Environment` hint.

$namespaces:
  datalabs: https://datalabs.dev/cwl#

hints:
  - class: datalabs:Environment
    datalab: psa-lab

requirements:
  InitialWorkDirRequirement:
    listing:
      - entryname: render.py
        entry:
          $include: render.py

baseCommand: [python3, render.py]

inputs:
  volume:
    type: Directory
    label: Folder
    doc: The folder the product was found in.
    inputBinding:
      position: 1
  product:
    type: string
    label: Product
    doc: The product's label, relative to the folder.
    inputBinding:
      position: 2

outputs:
  png:
    type: File?
    label: Quicklook
    doc: The PNG, or nothing when the product has no image.
    outputBinding:
      glob: "*.png"
