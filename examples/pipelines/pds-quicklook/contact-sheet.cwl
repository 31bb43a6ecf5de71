#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Contact sheet
doc: |
  Gathers the quicklook PNGs into the folder `quicklooks/` with an `index.html` that shows
  them in a grid, each captioned with its product name (HTML-escaped). Runs
  `contact_sheet.py` (standard library only).

requirements:
  InitialWorkDirRequirement:
    listing:
      - entryname: contact_sheet.py
        entry:
          $include: contact_sheet.py

baseCommand: [python3, contact_sheet.py]

inputs:
  title:
    type: string
    default: PDS quicklooks
    label: Title
    doc: The page title.
    inputBinding:
      position: 1
  pngs:
    type: File[]
    label: Quicklooks
    doc: The PNGs to show.
    inputBinding:
      position: 2

outputs:
  quicklooks:
    type: Directory
    label: Quicklooks folder
    doc: "`quicklooks/`: `index.html` and the PNGs."
    outputBinding:
      glob: quicklooks
