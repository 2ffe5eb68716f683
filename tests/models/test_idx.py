from __future__ import annotations

import gzip

import numpy as np
import pytest

from models.errors import DataError
from models.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from tests.helpers import write_idx


@pytest.mark.parametrize("compress", [True, False])
def test_reads_images_and_labels(tmp_path, compress):
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    write_idx(tmp_path / "img", images, magic=IMAGES_MAGIC, compress=compress)
    write_idx(tmp_path / "lab", np.array([7, 0, 9]), magic=LABELS_MAGIC, compress=compress)
    np.testing.assert_array_equal(read_idx(tmp_path / "img", expected_magic=IMAGES_MAGIC), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "lab", expected_magic=LABELS_MAGIC), [7, 0, 9])


def test_truncated_data_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, np.zeros((4, 28, 28)), magic=IMAGES_MAGIC, compress=False)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.*truncated"):
        read_idx(path, expected_magic=IMAGES_MAGIC)


def test_truncated_gzip_is_reported(tmp_path):
    path = tmp_path / "x.gz"
    write_idx(path, np.zeros((4, 28, 28)), magic=IMAGES_MAGIC, compress=True)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(path, expected_magic=IMAGES_MAGIC)


def test_wrong_magic_is_reported(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.zeros(5), magic=LABELS_MAGIC, compress=False)
    with pytest.raises(DataError, match="magic number 2049, expected 2051"):
        read_idx(path, expected_magic=IMAGES_MAGIC)


def test_header_shorter_than_announced(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(gzip.compress((2051).to_bytes(4, "big") + b"\x00\x00"))
    with pytest.raises(DataError, match="truncated inside its IDX header"):
        read_idx(path, expected_magic=IMAGES_MAGIC)
