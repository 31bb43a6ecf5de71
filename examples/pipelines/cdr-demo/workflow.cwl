#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
label: Calibrate and summarise (CDR demo)
doc: |
  A miniature calibrated-data-record chain: `calibrate` turns raw counts into radiance
  with a gain, `summarise` computes min, max and mean of the calibrated values. Both the
  intermediate product (the calibrated CSV) and the summary are outputs of the workflow.

inputs:
  raw:
    type: File
    label: Raw counts
    doc: CSV with a header line and the columns sample, counts.
  gain:
    type: float
    default: 1.0
    label: Gain
    doc: Radiance per count.

outputs:
  calibrated:
    type: File
    label: Calibrated CSV
    doc: The intermediate product, `calibrated.csv`.
    outputSource: calibrate/calibrated
  summary:
    type: File
    label: Summary
    doc: "`summary.txt`: rows, min, max and mean of the radiance."
    outputSource: summarise/summary

steps:
  calibrate:
    label: Calibrate
    doc: Multiply the counts by the gain.
    run: calibrate.cwl
    in:
      raw: raw
      gain: gain
    out: [calibrated]

  summarise:
    label: Summarise
    doc: Min, max and mean of the calibrated values.
    run: summarise.cwl
    in:
      calibrated: calibrate/calibrated
    out: [summary]
