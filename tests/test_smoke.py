import bars_zoo


def test_package_parses_its_own_example_genotype():
    from bars_zoo._resources import resource_dir

    spec = bars_zoo.read(resource_dir("genotypes") / "example.geno")
    assert spec.input_shape == (3, 32, 32)
    assert spec.num_classes == 10
