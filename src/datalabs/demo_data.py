"""A small synthetic PDS3/PDS4 volume, for demos on machines without the shared test data.

The products are tiny but well formed: PDS3 detached labels with raw images, a PDS3 label
attached to its image, and PDS4 labels with a table and an image.
"""

from __future__ import annotations

import math
from pathlib import Path

PDS3_DETACHED = """PDS_VERSION_ID       = PDS3
RECORD_TYPE          = FIXED_LENGTH
RECORD_BYTES         = {width}
FILE_RECORDS         = {height}
^IMAGE               = "{image}"
DATA_SET_ID          = "{data_set}"
PRODUCT_ID           = "{product}"
MISSION_NAME         = "{mission}"
INSTRUMENT_ID        = "{instrument}"
TARGET_NAME          = "{target}"
START_TIME           = 2015-08-{day:02d}T10:00:00.000
STOP_TIME            = 2015-08-{day:02d}T10:00:01.000
PROCESSING_LEVEL_ID  = 3
GROUP                = IMAGE_POI
  ROSETTA:SURF_INT_CART_COORD = ({x:.3f} <km>, {y:.3f} <km>, {z:.3f} <km>)
  ROSETTA:DISTANCE    = {distance:.3f} <km>
END_GROUP            = IMAGE_POI
OBJECT               = IMAGE
  LINES              = {height}
  LINE_SAMPLES       = {width}
  SAMPLE_TYPE        = UNSIGNED_INTEGER
  SAMPLE_BITS        = 8
END_OBJECT           = IMAGE
END
"""

PDS4_TABLE = """<?xml version="1.0" encoding="UTF-8"?>
<Product_Observational xmlns="http://pds.nasa.gov/pds4/pds/v1">
  <Identification_Area>
    <logical_identifier>urn:nasa:pds:synthetic_demo:data:table_{index:03d}</logical_identifier>
    <version_id>1.0</version_id>
    <title>Synthetic demo table {index}</title>
    <information_model_version>1.18.0.0</information_model_version>
    <product_class>Product_Observational</product_class>
  </Identification_Area>
  <Observation_Area>
    <Time_Coordinates>
      <start_date_time>2020-01-{day:02d}T00:00:00Z</start_date_time>
      <stop_date_time>2020-01-{day:02d}T01:00:00Z</stop_date_time>
    </Time_Coordinates>
    <Primary_Result_Summary><processing_level>Calibrated</processing_level></Primary_Result_Summary>
    <Investigation_Area><name>Synthetic Demo</name><type>Mission</type></Investigation_Area>
    <Observing_System><Observing_System_Component><name>Demo Spectrometer</name><type>Instrument</type></Observing_System_Component></Observing_System>
    <Target_Identification><name>Mars</name><type>Planet</type></Target_Identification>
  </Observation_Area>
  <File_Area_Observational>
    <File><file_name>table_{index:03d}.csv</file_name></File>
    <Table_Delimited>
      <offset unit="byte">0</offset>
      <parsing_standard_id>PDS DSV 1</parsing_standard_id>
      <records>{rows}</records>
      <record_delimiter>Carriage-Return Line-Feed</record_delimiter>
      <field_delimiter>Comma</field_delimiter>
      <Record_Delimited>
        <fields>2</fields>
        <groups>0</groups>
        <Field_Delimited><name>time</name><field_number>1</field_number><data_type>ASCII_Real</data_type></Field_Delimited>
        <Field_Delimited><name>value</name><field_number>2</field_number><data_type>ASCII_Real</data_type></Field_Delimited>
      </Record_Delimited>
    </Table_Delimited>
  </File_Area_Observational>
</Product_Observational>
"""


def _image(width: int, height: int, seed: int) -> bytes:
    return bytes((int(127 + 120 * math.sin((x + seed) / 7.0) * math.cos(y / 9.0)) & 0xFF)
                 for y in range(height) for x in range(width))


def write_synthetic_volume(root: Path, *, osiris_only: bool = False) -> None:
    width = height = 64
    pds3 = root / "pds3" / ("rosetta_osiris_nac" if osiris_only else "synthetic_camera")
    pds3.mkdir(parents=True, exist_ok=True)
    for index in range(1, 6):
        product = f"N2015080{index}T100000_DEMO"
        image = f"{product}.IMG"
        (pds3 / image).write_bytes(_image(width, height, index))
        (pds3 / f"{product}.LBL").write_text(PDS3_DETACHED.format(
            width=width, height=height, image=image, data_set="RO-C-OSIRIS-3-DEMO-V1.0", product=product,
            mission="ROSETTA", instrument="OSINAC", target="67P/CHURYUMOV-GERASIMENKO 1 (1969 R1)",
            day=index, x=1.0 + index, y=-0.5 * index, z=0.25, distance=10.0 + index))
    if osiris_only:
        return
    label = PDS3_DETACHED.format(width=width, height=height, image="", data_set="SYNTH-ATTACHED-V1.0",
                                 product="ATTACHED_001", mission="SYNTHETIC", instrument="DEMOCAM",
                                 target="MARS", day=9, x=0, y=0, z=0, distance=0)
    label = label.replace('^IMAGE               = ""\n', "^IMAGE               = 2\n").replace(
        "FILE_RECORDS         = 64", "FILE_RECORDS         = 65\nLABEL_RECORDS        = 1")
    header = label.encode().ljust(width * 32, b" ")
    attached = pds3 / "ATTACHED_001.IMG"
    attached.write_bytes(header + _image(width, height, 9))
    pds4 = root / "pds4" / "synthetic_spectrometer"
    pds4.mkdir(parents=True, exist_ok=True)
    for index in range(1, 4):
        rows = 20
        (pds4 / f"table_{index:03d}.csv").write_text(
            "".join(f"{t:.1f},{math.sin(t / 3 + index):.5f}\r\n" for t in range(rows)))
        (pds4 / f"table_{index:03d}.xml").write_text(PDS4_TABLE.format(index=index, day=index, rows=rows))
