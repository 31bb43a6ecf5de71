#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Split into parts
doc: Writes the files `part-1.txt` .. `part-N.txt`, each holding its own number.

baseCommand: [sh, -c]
arguments:
  - position: 0
    valueFrom: |
      set -eu
      for i in `seq 1 "$1"`; do echo "$i" > "part-$i.txt"; done
  - position: 1
    valueFrom: split  # $0 of the script

inputs:
  count:
    type: int
    label: Number of parts
    doc: How many part files to write (0 writes none).
    inputBinding:
      position: 2

outputs:
  parts:
    type: File[]
    label: Parts
    doc: The part files.
    outputBinding:
      glob: part-*.txt
