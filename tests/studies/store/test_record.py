from __future__ import annotations

import optuna

from studies.store.record import StudyRecord

OLD_DATA = {"source": "idx:/somewhere/mnist", "train": 54000, "val": 6000, "test": 10000,
            "location": "/somewhere/mnist"}


def _record(data, **kwargs):
    fields = dict(optimizer="tpe", optimizer_settings={}, seed=0, budget=4, space={}, train={}, data=data)
    fields.update(kwargs)
    return StudyRecord(**fields)


def test_a_record_made_before_digests_reads_with_its_path_as_given_and_the_kind_as_source():
    study = optuna.create_study()
    _record(OLD_DATA).write(study)
    data = StudyRecord.read(study).data
    assert data == {"source": "idx", "train": 54000, "val": 6000, "test": 10000, "given": "/somewhere/mnist"}


def test_data_differ_by_identity_not_by_where_they_were_given():
    stored = _record({"source": "idx", "sha256": "a" * 64, "train": 9, "val": 1, "test": 5, "given": "mnist"})
    moved = _record({**stored.data, "given": "/elsewhere/mnist"})
    other = _record({**stored.data, "sha256": "b" * 64})
    assert stored.differences(moved) == []
    assert [line.split(":")[0] for line in stored.differences(other)] == ["data"]


def test_an_older_record_without_a_digest_compares_on_what_it_has():
    old = _record({"source": "idx", "train": 9, "val": 1, "test": 5, "given": "mnist"})
    new = _record({"source": "idx", "sha256": "a" * 64, "train": 9, "val": 1, "test": 5, "given": "mnist"})
    assert old.differences(new) == []
    assert old.differences(_record({**new.data, "train": 10})) != []
