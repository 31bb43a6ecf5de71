#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Square a number
doc: Reads the number in a part file and writes its square to `<part>-squared.txt`.

baseCommand: awk
arguments:
  - "NF { print $1 * $1 }"

inputs:
  part:
    type: File
    label: Part file
    doc: A file holding one number.
    inputBinding:
      position: 1

stdout: $(inputs.part.nameroot)-squared.txt

outputs:
  squared:
    type: stdout
    label: Square
    doc: A file holding the square of the part's number.
