#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
label: Scatter and gather
doc: |
  `split` writes N part files, `square` runs once per part (scattered, so the runs can
  go in parallel) and `gather` collects the results into `total.txt` and their sum,
  1^2 + 2^2 + ... + N^2 = N(N+1)(2N+1)/6.

requirements:
  ScatterFeatureRequirement: {}

inputs:
  count:
    type: int
    default: 10
    label: Number of parts
    doc: N, the number of parts to split into.

outputs:
  total:
    type: File
    label: Total
    doc: "`total.txt`: the squares, one per line, then `sum: <sum>`."
    outputSource: gather/total
  sum:
    type: int
    label: Sum of squares
    doc: The sum of the squares of 1..N.
    outputSource: gather/sum

steps:
  split:
    label: Split
    doc: Write part-1.txt .. part-N.txt.
    run: split.cwl
    in:
      count: count
    out: [parts]

  square:
    label: Square (scattered)
    doc: One job per part file.
    run: square.cwl
    scatter: part
    in:
      part: split/parts
    out: [squared]

  gather:
    label: Gather
    doc: Concatenate the squares and add them up.
    run: gather.cwl
    in:
      squares: square/squared
    out: [total, sum]
