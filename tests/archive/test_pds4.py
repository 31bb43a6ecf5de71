"""PDS4 labels: recognition from the first bytes, registry-style flattening, core fields, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from datalabs.archive import pds4
from datalabs.archive.labels import LabelError, label_kind, read_label

TESTDATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "pds"


def data_path(*parts: str) -> Path:
    path = TESTDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test data not available: {path}")
    return path


MINIMAL = """<?xml version="1.0" encoding="UTF-8"?>
<?xml-model href="http://pds.nasa.gov/pds4/pds/v1/PDS4_PDS_1B00.sch"?>
<Product_Observational xmlns="http://pds.nasa.gov/pds4/pds/v1"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:geom="http://pds.nasa.gov/pds4/geom/v1">
  <Identification_Area>
    <logical_identifier>urn:nasa:pds:bundle:data_raw:product_0001</logical_identifier>
    <version_id>1.10</version_id>
  </Identification_Area>
  <Observation_Area>
    <Time_Coordinates>
      <start_date_time>2014-259T01:19:18.308Z</start_date_time>
      <stop_date_time xsi:nil="true" nilReason="unknown"/>
    </Time_Coordinates>
    <Investigation_Area><name>Rosetta</name><type>Mission</type></Investigation_Area>
    <Target_Identification><name>67P</name></Target_Identification>
    <Target_Identification><name>Mars</name></Target_Identification>
    <Discipline_Area>
      <geom:Distances>
        <geom:spacecraft_target_center_distance unit="km">17.428</geom:spacecraft_target_center_distance>
        <geom:note>  several
            lines   of text </geom:note>
        <geom:count>0001</geom:count>
        <geom:ratio>0.25</geom:ratio>
        <geom:zero>0</geom:zero>
      </geom:Distances>
    </Discipline_Area>
  </Observation_Area>
  <File_Area_Observational>
    <File><file_name>product_0001.dat</file_name></File>
  </File_Area_Observational>
</Product_Observational>
"""


def test_flattening_names_values_types_units_and_nil(tmp_path: Path) -> None:
    label = tmp_path / "product_0001.xml"
    label.write_text(MINIMAL)
    read = read_label(label)
    a, t, u = read.attributes, read.types, read.units
    assert a["pds:Identification_Area.pds:logical_identifier"] == "urn:nasa:pds:bundle:data_raw:product_0001"
    assert a["pds:Identification_Area.pds:version_id"] == "1.10"  # a version, not the number 1.1
    assert t["pds:Time_Coordinates.pds:start_date_time"] == "date"
    assert a["pds:Time_Coordinates.pds:stop_date_time"] == "unknown"  # nilReason
    assert a["geom:Distances.geom:spacecraft_target_center_distance"] == 17.428
    assert u["geom:Distances.geom:spacecraft_target_center_distance"] == "km"
    assert a["geom:Distances.geom:note"] == "several lines of text"
    assert (a["geom:Distances.geom:count"], t["geom:Distances.geom:count"]) == ("0001", "str")
    assert (a["geom:Distances.geom:ratio"], a["geom:Distances.geom:zero"]) == (0.25, 0)
    assert a["pds:Target_Identification.pds:name"] == ["67P", "Mars"]
    assert t["pds:Target_Identification.pds:name"] == "list"
    assert read.identifier == "urn:nasa:pds:bundle:data_raw:product_0001::1.10"
    assert read.data_set == "urn:nasa:pds:bundle:data_raw"
    assert (read.mission, read.target) == ("Rosetta", "67P, Mars")
    assert read.start_time == "2014-09-16T01:19:18.308Z" and read.stop_time is None
    assert read.files == ["product_0001.dat"] and read.format == "PDS4"


def test_real_psa_label_is_flattened_as_the_registry_does() -> None:
    label = read_label(data_path("pds4", "psa_template", "minimal_test_product.xml"))
    a = label.attributes
    assert a["pds:Identification_Area.pds:logical_identifier"] == \
        "urn:esa:psa:mission_host_instrument:data_raw:test_product"
    assert a["pds:Time_Coordinates.pds:start_date_time"] == "2019-08-06T00:00:00Z"
    assert a["pds:Observing_System_Component.pds:type"] == ["Spacecraft", "Instrument"]
    assert a["psa:Mission_Information.psa:mission_phase_name"] == "Earth Gravity Assist"
    assert (a["pds:File.pds:file_size"], label.units["pds:File.pds:file_size"]) == (230, "byte")
    assert label.types["pds:Record_Delimited.pds:fields"] == "int"
    assert label.identifier == "urn:esa:psa:mission_host_instrument:data_raw:test_product::0.1"
    assert label.data_set == "urn:esa:psa:mission_host_instrument:data_raw"
    assert (label.mission, label.instrument, label.target) == ("BepiColombo", "Test instrument",
                                                              "Spacecraft Deck")
    assert (label.processing_level, label.product_class) == ("Raw", "Product_Observational")
    assert label.start_time == "2019-08-06T00:00:00Z" and label.stop_time == "2019-08-06T00:03:00Z"
    assert label.files == ["minimal_test_product.csv"]


def test_nil_values_and_units_of_a_real_label() -> None:
    label = read_label(data_path("pds4", "dawn_grand", "GRD-L1A-150313-150319_150625-BGO.xml"))
    assert label.attributes["dawn:TELREADOUT.dawn:grand_interval"] == ["missing", 70, "missing", 210]
    assert label.units["dawn:TELREADOUT.dawn:grand_interval"] == "s"


def test_label_without_namespace_is_read_as_pds() -> None:
    path = data_path("pds4", "tgo_cassis", "CAS-MCO-2016-11-26T22.50.27.381-BLU-03005-B1.xml")
    assert label_kind(path) == "pds4"
    label = read_label(path)
    assert label.attributes["pds:Identification_Area.pds:logical_identifier"] == "TBD"
    assert label.identifier == "TBD::UNK" and label.data_set == ""


def test_bundle_and_collection_data_sets() -> None:
    bundle = read_label(data_path("pds4", "insight_rad_bundle", "bundle_insight_rad.xml"))
    assert (bundle.product_class, bundle.data_set) == ("Product_Bundle", "")
    collection = read_label(data_path("pds4", "insight_rad_bundle", "data_raw", "collection_data_rad_raw.xml"))
    assert collection.data_set == "urn:nasa:pds:insight_rad:data_raw"
    assert collection.files == ["collection_data_rad_raw.csv"]


def test_root_tag_after_a_long_preamble_is_found() -> None:
    path = data_path("pds4", "msl_mmm", "3778ml1037770010808163i01_dxxx.xml")
    with open(path, "rb") as stream:
        head = stream.read(1024)
    assert pds4._root_tag(head) is None  # the first KiB is all xml-model lines
    assert label_kind(path) == "pds4" and label_kind(path, head) == "pds4"


@pytest.mark.parametrize("document, kind", [
    (b'<?xml version="1.0"?><xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>', None),
    (b'<?xml version="1.0"?><sch:schema xmlns:sch="http://purl.oclc.org/dsdl/schematron"/>', None),
    (b'<?xml version="1.0"?><Product_Observational xmlns="http://example.com/other"/>', None),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', None),
    (b'<?xml version="1.0"?>\n<!-- c -->\n<pds:Product_Bundle xmlns:pds="http://pds.nasa.gov/pds4/pds/v1">',
     "pds4"),
    (b'\xef\xbb\xbf<Product_Document xmlns="http://pds.nasa.gov/pds4/pds/v1">', "pds4"),
])
def test_only_pds4_products_are_pds4_labels(tmp_path: Path, document: bytes, kind: str | None) -> None:
    path = tmp_path / "thing.xml"
    path.write_bytes(document)
    assert label_kind(path) == kind


def test_xml_that_is_not_well_formed_says_where(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text(MINIMAL.replace("</version_id>", "</version>"))
    with pytest.raises(LabelError) as error:
        read_label(path)
    assert "not well-formed XML" in error.value.reason
    assert (error.value.line, error.value.column) == (8, 31)  # where lxml stops: the wrong end tag
    assert str(error.value) == ("not well-formed XML: Opening and ending tag mismatch: version_id line 8 "
                                "and version (line 8, column 31)")


def test_label_without_logical_identifier_names_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "no_lid.xml"
    path.write_text(MINIMAL.replace(
        "<logical_identifier>urn:nasa:pds:bundle:data_raw:product_0001</logical_identifier>", ""))
    with pytest.raises(LabelError, match="Identification_Area/logical_identifier"):
        read_label(path)
    path.write_text(MINIMAL.replace("Identification_Area", "Identification_Areaa"))
    with pytest.raises(LabelError, match="no Identification_Area"):
        read_label(path)


def test_entities_are_not_expanded(tmp_path: Path) -> None:
    path = tmp_path / "entity.xml"
    path.write_text(MINIMAL.replace('<?xml version="1.0" encoding="UTF-8"?>',
                                    '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>')
                    .replace("<name>Rosetta</name>", "<name>&x;</name>"))
    label = read_label(path)
    assert "root:" not in str(label.attributes)
