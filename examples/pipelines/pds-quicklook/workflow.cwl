#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: Workflow
label: PDS quicklooks
doc: |
  Quicklook images of the PDS products in a folder: `find` lists the products (PDS3 and
  PDS4 labels, images with attached labels), `render` is scattered over them and draws
  each product's first image as a PNG with pdr and matplotlib (in the `psa-lab` datalab's
  environment), and `contact-sheet` gathers the PNGs into `quicklooks/index.html`.
  Products without an image are skipped with a note in the render step's log.

requirements:
  ScatterFeatureRequirement: {}
  StepInputExpressionRequirement: {}
  MultipleInputFeatureRequirement: {}

inputs:
  volume:
    type: Directory
    label: Folder
    doc: A folder of a PDS volume (searched with its sub-folders).
  max_products:
    type: int?
    label: At most this many products
    doc: Render only the first N products found (sorted by path); all when not given.

outputs:
  quicklooks:
    type: Directory
    label: Quicklooks
    doc: "`quicklooks/`: `index.html` (the contact sheet) and one PNG per product with an image."
    outputSource: contact-sheet/quicklooks

steps:
  find:
    label: Find products
    doc: List the product labels in the folder.
    run: find-products.cwl
    in:
      volume: volume
      max_products: max_products
    out: [products]

  render:
    label: Render (scattered)
    doc: One job per product; products without an image give no PNG.
    run: render.cwl
    scatter: product
    in:
      volume: volume
      product: find/products
    out: [png]

  contact-sheet:
    label: Contact sheet
    doc: Gather the PNGs into quicklooks/index.html.
    run: contact-sheet.cwl
    in:
      title:
        source: volume
        valueFrom: Quicklooks of $(self.basename)
      pngs:
        source: [render/png]
        linkMerge: merge_flattened
        pickValue: all_non_null
    out: [quicklooks]
