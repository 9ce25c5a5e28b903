from bench.ingest_bench import pss_over_load


def test_growth_is_split_at_the_sample_nearest_the_middle_and_test_doubles_stay_out_of_the_stack() -> None:
    start = {"notifier": 100.0, "postgres": 110.0, "fake-slack": 20.0}
    samples = [(30.0, {"notifier": 150.0, "postgres": 200.0, "fake-slack": 40.0}),
               (61.0, {"notifier": 180.0, "postgres": 240.0, "fake-slack": 60.0}),
               (90.0, {"notifier": 230.0, "postgres": 240.0, "fake-slack": 80.0})]
    end = {"notifier": 280.0, "postgres": 241.0, "fake-slack": 100.0}

    over = pss_over_load(start, samples, end, 120.0)

    assert over["stack_mb"] == [[0.0, 210.0], [30.0, 350.0], [61.0, 420.0], [90.0, 470.0], [120.0, 521.0]]
    assert over["by_process_mb"]["notifier"] == [100.0, 150.0, 180.0, 230.0, 280.0]
    assert over["first_half_growth_mb"] == {"notifier": 80.0, "postgres": 130.0, "fake-slack": 40.0}
    # postgres stopped growing (its buffers filled); the notifier did not
    assert over["second_half_growth_mb"] == {"notifier": 100.0, "postgres": 1.0, "fake-slack": 40.0}
    assert (over["stack_first_half_growth_mb"], over["stack_second_half_growth_mb"]) == (210.0, 101.0)


def test_without_samples_the_middle_is_the_nearer_end() -> None:
    over = pss_over_load({"ingest": 90.0}, [], {"ingest": 100.0}, 20.0)
    assert over["stack_mb"] == [[0.0, 90.0], [20.0, 100.0]]
    assert over["stack_first_half_growth_mb"] + over["stack_second_half_growth_mb"] == 10.0
