"""The fake result tables of ``report_fakes`` follow the output contract, so the figure, table and
report tests that use them test real shapes."""

from __future__ import annotations

import pandas as pd

from report_fakes import CONTRACT, load_example_config, write_fake_results


def test_fake_results_follow_the_output_contract(tmp_path):
    cfg = load_example_config()
    out = write_fake_results(tmp_path, cfg)
    for rel, columns in CONTRACT.items():
        frame = pd.read_csv(out / rel)
        assert list(frame.columns[: len(columns)]) == columns, rel
        assert len(frame) > 0, rel
    flow = pd.read_csv(out / "tables/flow.csv")
    assert len(flow) == len(cfg.arm_names) * len(cfg.visit_names)
    assert set(pd.read_csv(out / "tables/contrasts.csv")["arm"]) == {"prt", "placebo"}
