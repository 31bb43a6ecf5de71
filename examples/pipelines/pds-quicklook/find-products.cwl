#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Find PDS products
doc: |
  Lists the PDS products in a folder by their labels: PDS3 detached labels (`*.lbl`,
  `*.LBL`), PDS4 labels (`*.xml`, `*.lblx`) and image files with an attached PDS3 label
  (`*.IMG`, `*.QUB`). The result is the labels' paths relative to the folder, sorted,
  so that the next step can open each product inside the same folder (a detached label
  needs its data file next to it). Runs `find_products.py` (standard library only).

requirements:
  InitialWorkDirRequirement:
    listing:
      - entryname: find_products.py
        entry:
          $include: find_products.py

baseCommand: [python3, find_products.py]

inputs:
  volume:
    type: Directory
    label: Folder
    doc: A folder of a PDS volume; it is searched with its sub-folders.
    inputBinding:
      position: 1
  max_products:
    type: int?
    label: At most this many products
    doc: Keep only the first N products (sorted by path); all when not given.
    inputBinding:
      position: 2
      prefix: --max

outputs:
  products:
    type: string[]
    label: Products
    doc: The labels' paths relative to the folder (written by the script to cwl.output.json).
