//! Integration tests: one module per user story, built into one binary.

mod harness;

mod access;
mod access_hardening;
mod architecture;
mod audit;
mod bad_input;
mod budgets;
mod cli;
mod concurrency;
mod crash;
mod crud;
mod faults;
mod frappe_documents;
mod frappe_import;
mod frappe_validation;
mod fuzz;
mod hostile;
mod hostile_review;
mod import;
mod operations;
mod packs;
mod persistence;
mod queries;
mod read_records;
mod readme;
mod request_errors;
mod retention;
mod run_listing;
mod schemas;
mod script_growth;
mod script_limits;
mod select_plans;
mod shipped_packs;
mod stress;
mod workflows;
