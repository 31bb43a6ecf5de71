#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Summarise a calibrated CSV
doc: |
  Computes the number of rows and the minimum, maximum and mean of the second column of a
  CSV with a header line, and writes them to `summary.txt` as `name: value` lines.
  Fails when the file has no data row.

baseCommand: awk
arguments:
  - -F
  - ","
  - |
    NR == 1 { next }
    NF >= 2 {
      v = $2 + 0
      if (n == 0 || v < min) min = v
      if (n == 0 || v > max) max = v
      sum += v; n++
    }
    END {
      if (n == 0) { print "summarise: no data rows" > "/dev/stderr"; exit 1 }
      printf "rows: %d\nmin: %.6g\nmax: %.6g\nmean: %.6g\n", n, min, max, sum / n
    }

inputs:
  calibrated:
    type: File
    label: Calibrated CSV
    doc: CSV with a header line; the second column is summarised.
    inputBinding:
      position: 1

stdout: summary.txt

outputs:
  summary:
    type: stdout
    label: Summary
    doc: "`summary.txt`: rows, min, max and mean."
