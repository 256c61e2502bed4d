//! `subnet`: the operator command of the subnet engine.

fn main() {}
