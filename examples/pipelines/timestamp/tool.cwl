#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Timestamp a text file
doc: |
  Waits `sleep` seconds, then copies the text file to `timestamped.txt` and appends one
  line with the current UTC time (`date -u`, ISO 8601, e.g. `2025-01-31T12:00:00Z`).
  A last line without a newline is completed first, so the time is always a line of its own.

  The shell script is a fixed string; the inputs reach it as positional parameters
  (`$1`, `$2`), never pasted into the script, so no file name can inject shell code.

baseCommand: [sh, -c]
arguments:
  - position: 0
    valueFrom: |
      set -eu
      sleep "$2"
      awk 1 "$1" > timestamped.txt
      date -u '+%Y-%m-%dT%H:%M:%SZ' >> timestamped.txt
  - position: 1
    valueFrom: timestamp  # $0 of the script: the name in its error messages

inputs:
  file:
    type: File
    label: Text file
    doc: The file to copy and timestamp.
    inputBinding:
      position: 2
  sleep:
    type: int
    default: 1
    label: Seconds to wait
    doc: How long to sleep before taking the time (a stand-in for real work).
    inputBinding:
      position: 3

outputs:
  timestamped:
    type: File
    label: Timestamped copy
    doc: The input's lines followed by one line with the UTC time.
    outputBinding:
      glob: timestamped.txt
