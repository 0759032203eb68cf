"""Demo and synthetic data, kept out of the production packages: synthetic holders, seeded licences, the demo region.

Nothing in production imports it except `trustledger`, which wires `init --demo`, `serve` and `demo seed`.
"""
