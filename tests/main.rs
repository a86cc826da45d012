//! Integration tests: one module per user story, built into one binary.

mod harness;

mod access;
mod audit;
mod bad_input;
mod cli;
mod concurrency;
mod crash;
mod crud;
mod fuzz;
mod hostile;
mod operations;
mod packs;
mod persistence;
mod queries;
mod readme;
mod schemas;
mod shipped_packs;
mod stress;
mod workflows;
