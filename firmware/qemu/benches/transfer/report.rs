//! The bench's output: markdown tables on stdout and, when
//! `TIDENET_BENCH_DIR` names a directory (`cargo xtask bench` makes one),
//! `firmware.md` and one `firmware-<name>.csv` per table there, for the
//! bench report.

use std::fmt::Write as _;
use std::path::PathBuf;

/// The variable naming the report's directory.
const DIR_VAR: &str = "TIDENET_BENCH_DIR";

/// One table.
pub struct Table {
    /// Names its CSV: `firmware-<name>.csv`.
    pub name: &'static str,
    /// A sentence above it: what it shows.
    pub caption: String,
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    fn markdown(&self) -> String {
        let mut s = format!("{}\n\n| {} |\n|", self.caption, self.header.join(" | "));
        for _ in &self.header {
            s.push_str("---|");
        }
        s.push('\n');
        for row in &self.rows {
            let _ = writeln!(s, "| {} |", row.join(" | "));
        }
        s
    }

    fn csv(&self) -> String {
        let mut s = self.header.join(",");
        s.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| c.replace(',', "")).collect();
            s.push_str(&cells.join(","));
            s.push('\n');
        }
        s
    }
}

/// The section: a heading, the tables, then `notes` (how to reproduce).
pub struct Section {
    pub tables: Vec<Table>,
    pub notes: String,
}

impl Section {
    fn markdown(&self) -> String {
        let mut s = String::from("## Firmware on riscv32imc\n\n");
        for table in &self.tables {
            s.push_str(&table.markdown());
            s.push('\n');
        }
        s.push_str(&self.notes);
        s
    }

    /// Prints the section, and writes it and its CSVs if the report
    /// directory is set.
    pub fn emit(&self) -> Result<(), String> {
        let markdown = self.markdown();
        println!("{markdown}");
        let Some(dir) = std::env::var_os(DIR_VAR).map(PathBuf::from) else {
            return Ok(());
        };
        let write = |file: String, text: &str| {
            let path = dir.join(file);
            std::fs::write(&path, text)
                .map_err(|e| format!("could not write {}: {e}", path.display()))
        };
        write("firmware.md".into(), &markdown)?;
        for table in &self.tables {
            write(format!("firmware-{}.csv", table.name), &table.csv())?;
        }
        Ok(())
    }
}

/// `x` to one decimal.
pub fn one(x: f64) -> String {
    format!("{x:.1}")
}
