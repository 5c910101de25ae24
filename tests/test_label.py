"""The honest label: every PNG and GIF neuroart writes says, in XMP with the IPTC Digital Source Type,
that a trained model made it, read back by a real reader (exiftool) and by `neuroart info`."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from neuroart import imaging, outputs
from neuroart._util import NeuroartError

MADE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None,
                                    reason="exiftool missing (Debian libimage-exiftool-perl; .ci/run installs it)")


def exiftool(*paths) -> dict:
    """exiftool's XMP of each file, by file name."""
    out = subprocess.run(["exiftool", "-XMP:all", "-j", *map(str, paths)], capture_output=True, text=True, check=True)
    return {row["SourceFile"].rsplit("/", 1)[-1]: row for row in json.loads(out.stdout)}


def _frames(n=3):
    rng = np.random.default_rng(0)
    return [imaging.make_grid(rng.random((4, 28, 28), dtype=np.float32), scale=1) for _ in range(n)]


@needs_exiftool
def test_exiftool_reads_the_label_of_a_png_and_a_gif(tmp_path):
    frames = _frames()
    outputs.write_png(frames[0], tmp_path / "made.png", recipe={"seed": 1})
    outputs.save_gif(frames, tmp_path / "made.gif")
    outputs.save_image(np.zeros((28, 28), np.float32), tmp_path / "yours.png", composite=True)
    outputs.save_gif(frames, tmp_path / "yours.gif", composite=True)
    xmp = exiftool(*sorted(tmp_path.iterdir()))
    assert xmp["made.png"]["DigitalSourceType"] == MADE and xmp["made.gif"]["DigitalSourceType"] == MADE
    assert xmp["yours.png"]["DigitalSourceType"] == COMPOSITE and xmp["yours.gif"]["DigitalSourceType"] == COMPOSITE
    assert all(row["CreatorTool"] == f"neuroart {outputs.__version__}" for row in xmp.values())


@needs_exiftool
def test_exiftool_validates_the_files(tmp_path):
    """exiftool's own check of the structure (the GIF extension's magic trailer, the PNG chunk)."""
    outputs.write_png(_frames(1)[0], tmp_path / "a.png")
    outputs.save_gif(_frames(), tmp_path / "a.gif")
    out = subprocess.run(["exiftool", "-validate", "-warning", "-error", "-j", str(tmp_path / "a.png"),
                          str(tmp_path / "a.gif")], capture_output=True, text=True, check=True)
    rows = json.loads(out.stdout)
    assert [row["Validate"] for row in rows] == ["OK", "OK"], rows


def test_the_gif_still_decodes_frame_for_frame():
    """The XMP extension is skipped by an ordinary GIF decoder (Pillow): same frames, same loop."""
    frames = _frames(4)
    gif = imaging.encode_gif(frames, duration_ms=50)
    assert b"XMP DataXMP" in gif
    import io

    with Image.open(io.BytesIO(gif)) as im:
        assert im.n_frames == 4 and im.info.get("loop") == 0
        for i, want in enumerate(frames):
            im.seek(i)
            assert np.array_equal(np.asarray(im.convert("RGB")), want)


def test_the_label_has_no_timestamp_so_bytes_stay_the_same():
    rgb = _frames(1)[0]
    assert imaging.encode_png(rgb) == imaging.encode_png(rgb)
    assert imaging.encode_gif(_frames()) == imaging.encode_gif(_frames())
    packet = imaging.xmp_packet()
    assert b"\x00" not in packet and b"Date" not in packet and b"InstanceID" not in packet


def test_read_label_and_its_errors(tmp_path):
    outputs.write_png(_frames(1)[0], tmp_path / "a.png")
    assert outputs.read_label(tmp_path / "a.png") == {"source_type": MADE, "tool": f"neuroart {outputs.__version__}"}
    outputs.save_gif(_frames(), tmp_path / "b.gif", composite=True)
    assert outputs.read_label(tmp_path / "b.gif")["source_type"] == COMPOSITE
    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")  # a PNG neuroart did not write
    assert outputs.read_label(tmp_path / "plain.png") is None
    (tmp_path / "text.png").write_text("not a picture")
    with pytest.raises(NeuroartError, match="not a PNG or GIF"):
        outputs.read_label(tmp_path / "text.png")
    with pytest.raises(NeuroartError, match="no such file"):
        outputs.read_label(tmp_path / "missing.png")


def test_a_sheets_files_carry_its_label(tmp_path):
    frames = [np.full((2, 28, 28), v, np.float32) for v in (0.2, 0.8)]
    sheet = outputs.Sheet(np.zeros((2, 28, 28), np.float32), frames=frames, composite=True)
    outputs.save(sheet, out=tmp_path / "s.png", gif=tmp_path / "s.gif")
    assert outputs.read_label(tmp_path / "s.png")["source_type"] == COMPOSITE
    assert outputs.read_label(tmp_path / "s.gif")["source_type"] == COMPOSITE
    outputs.save(outputs.Sheet(np.zeros((2, 28, 28), np.float32)), out=tmp_path / "t.png")
    assert outputs.read_label(tmp_path / "t.png")["source_type"] == MADE


@pytest.mark.slow
@needs_exiftool
def test_real_commands_write_labelled_pictures(invoke, tmp_path, mnist):
    """generate (made from noise), morph (from two real digits) and dream --start FILE (your digit):
    exiftool reads each one's source type; `neuroart info` prints it."""
    (x, _), _ = mnist
    Image.fromarray(x[0]).save(tmp_path / "mine.png")
    assert invoke("generate", "3", "--per-digit", "2", "--out", "gen.png").exit_code == 0
    assert invoke("morph", "3", "8", "--frames", "3", "--out", "morph.png", "--gif", "morph.gif").exit_code == 0
    dream = invoke("dream", "8", "--per-digit", "1", "--steps", "3", "--prior", "none", "--start", "mine.png",
                   "--out", "into.png", "--gif", "into.gif")
    assert dream.exit_code == 0, dream.output
    xmp = exiftool(*(tmp_path / f for f in ("gen.png", "morph.png", "morph.gif", "into.png", "into.gif")))
    assert {f: row["DigitalSourceType"] for f, row in xmp.items()} == {
        "gen.png": MADE, "morph.png": COMPOSITE, "morph.gif": COMPOSITE, "into.png": COMPOSITE, "into.gif": COMPOSITE}
    info = invoke("info", "gen.png")
    assert info.exit_code == 0
    assert "made by a trained model" in info.output and MADE in info.output
    assert "recipe: neuroart generate 3 --per-digit 2 --out gen.png" in info.output
    assert COMPOSITE in invoke("info", "morph.gif").output


def test_info_of_a_missing_file_is_one_line(invoke):
    result = invoke("info", "nothing.png")
    assert result.exit_code != 0 and result.stderr.strip().splitlines() == ["Error: nothing.png: no such file"]


# --------------------------------------------------------------------------- content credentials (C2PA)


@pytest.fixture
def signing_pair(tmp_path):
    """A test certificate authority and a signing certificate it issued (EC P-256), made here."""
    pytest.importorskip("c2pa")
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "neuroart tests")])

    def usage(**on):
        names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                 "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
        return x509.KeyUsage(**{n: on.get(n, False) for n in names})

    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    end = start + datetime.timedelta(days=3650)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test CA")).issuer_name(name("test CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name("an artist")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (tmp_path / "chain.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    other = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "other.pem").write_bytes(other.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
    return tmp_path / "chain.pem", tmp_path / "key.pem"


def _manifest(path) -> dict:
    import c2pa

    report = json.loads(c2pa.Reader(str(path)).json())
    return report, report["manifests"][report["active_manifest"]]


def test_sign_adds_a_c2pa_manifest_that_says_a_model_made_it(invoke, tmp_path, signing_pair):
    frames = [np.full((2, 28, 28), v, np.float32) for v in (0.2, 0.8)]
    sheet = outputs.Sheet(frames[0], frames=frames, composite=True)
    outputs.save(sheet, out=tmp_path / "a.png", gif=tmp_path / "a.gif", argv=["restyle", "mine.png"])
    result = invoke("sign", "a.png", "--cert", "chain.pem", "--key", "key.pem", "--out", "signed.png")
    assert result.exit_code == 0 and result.output == "wrote signed.png\n", result.stderr
    grown = (tmp_path / "signed.png").stat().st_size - (tmp_path / "a.png").stat().st_size
    assert 0 < grown < 20_000, grown  # the manifest and the certificates, no thumbnail
    report, manifest = _manifest(tmp_path / "signed.png")
    assert report["validation_state"] == "Valid"  # the signature holds (the test CA is, rightly, not trusted)
    assert manifest["signature_info"]["common_name"] == "an artist"
    data = {a["label"].split(".v")[0]: a["data"] for a in manifest["assertions"]}
    [created] = data["c2pa.actions"]["actions"]
    assert created["action"] == "c2pa.created" and created["digitalSourceType"] == COMPOSITE
    assert created["softwareAgent"]["name"] == "neuroart"
    assert data["org.neuroart.recipe"]["command"] == "neuroart restyle mine.png"
    # the label and the recipe are still there, for readers that know no C2PA
    assert outputs.read_label(tmp_path / "signed.png")["source_type"] == COMPOSITE
    assert outputs.read_recipe(tmp_path / "signed.png")["argv"] == ["restyle", "mine.png"]
    # a GIF, signed in place
    assert invoke("sign", "a.gif", "--cert", "chain.pem", "--key", "key.pem").exit_code == 0
    assert _manifest(tmp_path / "a.gif")[0]["validation_state"] == "Valid"
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 2


@pytest.mark.parametrize("args, message", [
    (["a.png", "--cert", "chain.pem", "--key", "other.pem"], "cannot sign a.png: "),  # the key of another certificate
    (["a.png", "--cert", "key.pem", "--key", "chain.pem"], "chain.pem: not a usable private key"),
    (["a.png", "--cert", "none.pem", "--key", "key.pem"], "none.pem: no such file"),
    (["a.npz", "--cert", "chain.pem", "--key", "key.pem"], "only PNG and GIF pictures are signed"),
    (["a.png", "--cert", "chain.pem", "--key", "key.pem", "--out", "nowhere/b.png"], "folder does not exist"),
    (["a.png", "--cert", "chain.pem", "--key", "key.pem", "--out", "b.gif"], "must be a .png file"),
])
def test_sign_bad_input_is_one_line_and_no_file(invoke, tmp_path, signing_pair, args, message):
    outputs.write_png(_frames(1)[0], tmp_path / "a.png")
    outputs.save_npz(tmp_path / "a.npz", images=np.zeros((1, 28, 28), np.float32))
    before = (tmp_path / "a.png").read_bytes()
    result = invoke("sign", *args, "--out", "b.png") if "--out" not in args else invoke("sign", *args)
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert not (tmp_path / "b.png").exists() and not (tmp_path / "b.gif").exists()
    assert (tmp_path / "a.png").read_bytes() == before and not list(tmp_path.glob("*.part"))
