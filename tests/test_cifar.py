import numpy as np
import pytest

from benchsuite import cifar
from tests.fakes import cifar_files


def test_find_accepts_the_folder_or_its_parent(tmp_path):
    folder = cifar_files.write(tmp_path, per_batch=4)
    assert cifar.find(tmp_path) == folder
    assert cifar.find(folder) == folder


def test_missing_batches_name_what_is_expected(tmp_path):
    (tmp_path / "data_batch_1").write_bytes(b"")
    with pytest.raises(ValueError, match="data_batch_1..data_batch_5 and test_batch"):
        cifar.find(tmp_path)


@pytest.mark.parametrize("bytes_keys", [True, False])
def test_load_splits_and_normalise(tmp_path, bytes_keys):
    cifar_files.write(tmp_path, per_batch=6, bytes_keys=bytes_keys)
    x, y = cifar.load(tmp_path, train=True)
    assert x.shape == (30, 3, 32, 32) and x.dtype == np.uint8 and y.shape == (30,)
    tx, ty = cifar.load(tmp_path, train=False, limit=4)
    assert tx.shape == (4, 3, 32, 32) and len(ty) == 4
    t = cifar.normalise(x)
    assert float(t.min()) >= -1.0 and float(t.max()) <= 1.0
