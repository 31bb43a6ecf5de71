#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Echo a message
doc: |
  The smallest useful CWL tool: `echo` writes the message to standard output, which
  the tool keeps as the file `message.txt`.

baseCommand: echo

inputs:
  message:
    type: string
    default: Hello from datalabs!
    label: Message
    doc: The text to write into `message.txt`.
    inputBinding:
      position: 1

stdout: message.txt

outputs:
  output:
    type: stdout
    label: The message
    doc: "`message.txt`: the message and a newline."
