#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Append a banner
doc: |
  Copies a text file and appends `text` in large block letters drawn by `figlet`.
  The inputs reach the fixed shell script as quoted positional parameters.

baseCommand: [sh, -c]
arguments:
  - position: 0
    valueFrom: |
      set -eu
      awk 1 "$1" > "$3"
      figlet -- "$2" >> "$3"
  - position: 1
    valueFrom: banner  # $0 of the script

inputs:
  file:
    type: File
    label: Text file
    doc: The file to copy.
    inputBinding:
      position: 2
  text:
    type: string
    label: Banner text
    doc: The words to append in block letters.
    inputBinding:
      position: 3
  output_name:
    type: string
    default: banner.txt
    label: Output file name
    doc: The name of the copy with the banner.
    inputBinding:
      position: 4

outputs:
  output:
    type: File
    label: The copy with the banner
    doc: The input file's lines followed by the banner.
    outputBinding:
      glob: $(inputs.output_name)
