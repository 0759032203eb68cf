"""Trust list publishing (DESIGN §6): building the region's list from its registry, signing, chaining versions,
`next_update`, and storing the published versions. The format and its signature live in `signatures.trustlist`;
`trustledger` wires a publisher from a region's store, root key, clock and period."""
