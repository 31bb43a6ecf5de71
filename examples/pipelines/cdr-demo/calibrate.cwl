#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Calibrate counts
doc: |
  Reads a raw CSV with the header `sample,counts` and writes `calibrated.csv` with the
  header `sample,radiance`, where radiance = counts x gain. Blank lines are skipped;
  the awk program is a constant and the gain reaches it as an awk variable.

baseCommand: awk
arguments:
  - -F
  - ","
  - -v
  - gain=$(inputs.gain)
  - |
    NR == 1 { print "sample,radiance"; next }
    NF >= 2 { printf "%s,%.6g\n", $1, $2 * gain }

inputs:
  raw:
    type: File
    label: Raw counts
    doc: CSV with a header line and the columns sample, counts.
    inputBinding:
      position: 1
  gain:
    type: float
    label: Gain
    doc: Radiance per count.

stdout: calibrated.csv

outputs:
  calibrated:
    type: stdout
    label: Calibrated CSV
    doc: "`calibrated.csv`: columns sample, radiance."
