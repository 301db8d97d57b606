//! How `flicker test` prints what an operator made: rows as aligned tables or JSON, a format's
//! bytes as they are.

use super::Produced;
use crate::report::{self, OutputFormat};
use anyhow::Context;
use flicker_batch::{BatchReader, Row};
use std::io::Write;

/// Rows to print, and the names of their columns.
pub(super) struct Table {
    /// The key fields, then the value fields that do not repeat one.
    columns: Vec<String>,
    /// Each row's values in the order of `columns`.
    pub(super) rows: Vec<Row>,
}

/// A batch as a table.
pub(super) fn decode(batch: &[u8]) -> anyhow::Result<Table> {
    let reader = BatchReader::new(batch).context("the operator returned a malformed batch")?;
    let schema = reader.schema();
    let mut columns = schema.key_fields.clone();
    columns.extend(schema.value_fields.iter().filter(|f| !schema.key_fields.contains(f)).cloned());
    let mut rows = Vec::new();
    for raw in reader.rows() {
        let raw = raw.context("the operator returned a malformed batch")?;
        let mut row = Row::new();
        let keys = schema.key_fields.iter().zip(raw.key_values());
        for (name, value) in keys.chain(schema.value_fields.iter().zip(raw.values())) {
            // A key field repeated among the values keeps its place among the keys.
            row.set(name.as_str(), value.context("the operator returned a malformed batch")?.to_owned());
        }
        rows.push(row);
    }
    Ok(Table { columns, rows })
}

/// Consecutive batches of the same columns, as one table each.
fn tables(batches: &[Vec<u8>]) -> anyhow::Result<Vec<Table>> {
    let mut tables: Vec<Table> = Vec::new();
    for batch in batches {
        let table = decode(batch)?;
        match tables.last_mut() {
            Some(last) if last.columns == table.columns => last.rows.extend(table.rows),
            _ => tables.push(table),
        }
    }
    Ok(tables)
}

/// Writes a table with its columns aligned.
fn write_table(out: &mut dyn Write, table: &Table) -> std::io::Result<()> {
    let cells: Vec<Vec<String>> = std::iter::once(table.columns.clone())
        .chain(table.rows.iter().map(|row| row.iter().map(|(_, value)| value.to_string()).collect()))
        .collect();
    let mut widths = vec![0; table.columns.len()];
    for line in &cells {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for line in &cells {
        let padded: Vec<String> =
            line.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        writeln!(out, "{}", padded.join("  ").trim_end())?;
    }
    Ok(())
}

/// Writes tables one after the other, a blank line between them.
fn write_tables(out: &mut dyn Write, tables: &[Table]) -> std::io::Result<()> {
    for (index, table) in tables.iter().enumerate() {
        if index > 0 {
            writeln!(out)?;
        }
        write_table(out, table)?;
    }
    Ok(())
}

/// Prints what the operator made on stdout: rows as tables or JSON (with an aggregate's partials
/// first if asked), a format's bytes as they are.
pub(super) fn show(produced: &Produced, output: OutputFormat, show_partials: bool) -> anyhow::Result<()> {
    let (partials, rows) = match produced {
        Produced::Bytes(bytes) => return report::print(|out| out.write_all(bytes)),
        Produced::Rows { partials, rows } => (partials.as_ref().filter(|_| show_partials), tables(rows)?),
    };
    let partials = partials.map(|batch| tables(std::slice::from_ref(batch))).transpose()?;
    match (output, partials) {
        (OutputFormat::Text, None) => report::print(|out| write_tables(out, &rows)),
        (OutputFormat::Text, Some(partials)) => report::print(|out| {
            writeln!(out, "partials:")?;
            write_tables(out, &partials)?;
            writeln!(out, "\nrows:")?;
            write_tables(out, &rows)
        }),
        (OutputFormat::Json, None) => report::json(&json_rows(rows)),
        (OutputFormat::Json, Some(partials)) => report::json(&serde_json::json!({
            "partials": json_rows(partials),
            "rows": json_rows(rows),
        })),
    }
}

/// The rows of every table, for one JSON array.
fn json_rows(tables: Vec<Table>) -> Vec<Row> {
    tables.into_iter().flat_map(|table| table.rows).collect()
}
