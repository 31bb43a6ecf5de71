#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
label: Hello PIPEMAN
doc: |
  Two chained steps of the same tool: the first appends "Hello" in block letters to a copy
  of the input text file, the second appends "PIPEMAN" to the first step's result.

inputs:
  file:
    type: File
    label: Text file
    doc: Any text file; it is copied, never changed.

outputs:
  greeting:
    type: File
    label: Greeting
    doc: "`hello-pipeman.txt`: the input, then HELLO and PIPEMAN as figlet banners."
    outputSource: pipeman/output

steps:
  hello:
    label: Append "Hello"
    doc: Copy the input and append "Hello" in block letters.
    run: banner.cwl
    in:
      file: file
      text:
        default: Hello
      output_name:
        default: hello.txt
    out: [output]

  pipeman:
    label: Append "PIPEMAN"
    doc: Copy the first step's file and append "PIPEMAN" in block letters.
    run: banner.cwl
    in:
      file: hello/output
      text:
        default: PIPEMAN
      output_name:
        default: hello-pipeman.txt
    out: [output]
