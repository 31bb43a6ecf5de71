#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Gather and sum
doc: |
  Concatenates the squares in ascending order into `total.txt` and ends it with the line
  `sum: <sum>`; the sum is also an integer output.

requirements:
  InlineJavascriptRequirement: {}

baseCommand: [sh, -c]
arguments:
  - position: 0
    valueFrom: |
      set -eu
      if [ "$#" -gt 0 ]; then sort -n "$@"; fi > squares.txt
      awk '{ s += $1 } END { print s + 0 }' squares.txt > sum.txt
      { cat squares.txt; echo "sum: `cat sum.txt`"; } > total.txt
  - position: 1
    valueFrom: gather  # $0 of the script

inputs:
  squares:
    type: File[]
    label: Squares
    doc: The files written by the scattered `square` step.
    inputBinding:
      position: 2

outputs:
  total:
    type: File
    label: Total
    doc: "`total.txt`: the squares, one per line, then `sum: <sum>`."
    outputBinding:
      glob: total.txt
  sum:
    type: int
    label: Sum
    doc: The sum of the squares.
    outputBinding:
      glob: sum.txt
      loadContents: true
      outputEval: $(parseInt(self[0].contents, 10))
