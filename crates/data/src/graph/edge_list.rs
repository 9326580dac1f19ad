//! Edge-list files: a user's own graph in, any graph out.
//!
//! The format is plain text, one undirected edge per line as two non-negative integer node
//! ids separated by spaces or tabs (`u v`). Everything after a `#` is a comment; blank lines
//! are skipped. A comment of the form `# nodes: N` fixes the node count to N (so isolated
//! nodes survive a round trip); without it the graph has `1 + max id` nodes. Repeated edges
//! (in either direction) are merged; self loops are errors. A `.gz` file is gunzipped.

use std::io::{BufRead, Write};
use std::path::Path;

use super::Graph;
use crate::DataError;
use crate::io::{Output, open_read};

impl Graph {
    /// Read an edge-list file (format in the [`graph`](crate::graph) module docs).
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] when the file cannot be opened; otherwise as
    /// [`parse_edge_list`](Self::parse_edge_list), naming the file and the line, e.g.
    /// `graph.txt:7: expected two node ids "u v", found "3"`.
    pub fn read_edge_list(path: &Path) -> Result<Graph, DataError> {
        Graph::parse_edge_list(open_read(path)?, path)
    }

    /// Parse an edge list from `reader`; `path` only names the source in errors.
    ///
    /// # Errors
    ///
    /// [`DataError::Parse`] naming `path` and the line for an unreadable line, a line that is
    /// not two node ids, an id that is not an integer below `u32::MAX`, a self loop, a
    /// malformed or repeated `# nodes:` comment, or an id at or above the declared node count.
    pub fn parse_edge_list(mut reader: impl BufRead, path: &Path) -> Result<Graph, DataError> {
        let mut edges: Vec<(u32, u32)> = Vec::new();
        let mut declared: Option<(usize, u64)> = None;
        let mut max_id: Option<u32> = None;
        let mut line = String::new();
        let mut number = 0u64;
        loop {
            line.clear();
            number += 1;
            let read = reader.read_line(&mut line).map_err(|e| {
                DataError::parse(path, number, format!("cannot read the line: {e}"))
            })?;
            if read == 0 {
                break;
            }
            let (content, comment) = match line.find('#') {
                Some(k) => (&line[..k], Some(&line[k + 1..])),
                None => (line.as_str(), None),
            };
            if let Some(n) = comment.and_then(|c| c.trim().strip_prefix("nodes:")) {
                let n: usize = n.trim().parse().map_err(|_| {
                    DataError::parse(
                        path,
                        number,
                        format!("\"# nodes: {}\" is not a node count", n.trim()),
                    )
                })?;
                if let Some((_, first)) = declared {
                    return Err(DataError::parse(
                        path,
                        number,
                        format!("a second \"# nodes:\" line (the first is line {first})"),
                    ));
                }
                declared = Some((n, number));
            }
            let mut fields = content.split_whitespace();
            let (Some(a), Some(b), None) = (fields.next(), fields.next(), fields.next()) else {
                if content.trim().is_empty() {
                    continue;
                }
                return Err(DataError::parse(
                    path,
                    number,
                    format!("expected two node ids \"u v\", found \"{}\"", content.trim()),
                ));
            };
            let id = |s: &str| {
                s.parse::<u32>().map_err(|_| {
                    DataError::parse(
                        path,
                        number,
                        format!("node id \"{s}\" is not an integer in 0..={}", u32::MAX - 1),
                    )
                })
            };
            let (a, b) = (id(a)?, id(b)?);
            if a == b {
                return Err(DataError::parse(path, number, format!("self loop \"{a} {b}\"")));
            }
            if a == u32::MAX || b == u32::MAX {
                return Err(DataError::parse(
                    path,
                    number,
                    format!("node id {} is too large (at most {})", a.max(b), u32::MAX - 1),
                ));
            }
            max_id = Some(max_id.unwrap_or(0).max(a).max(b));
            edges.push((a, b));
        }
        let n = match (declared, max_id) {
            (Some((n, line)), Some(max)) if max as usize >= n => {
                return Err(DataError::parse(
                    path,
                    line,
                    format!("\"# nodes: {n}\" but the file has node id {max}"),
                ));
            }
            (Some((n, _)), _) => n,
            (None, Some(max)) => max as usize + 1,
            (None, None) => 0,
        };
        Graph::from_edges(n, &edges).map_err(|e| DataError::parse(path, 0, e.to_string()))
    }

    /// Write the graph as an edge list (gzip when `path` ends in `.gz`): a header comment
    /// with `# nodes: N`, then every edge `a b` with `a < b`, in ascending order.
    ///
    /// # Errors
    ///
    /// [`DataError::Io`] naming `path` when it cannot be created or written.
    pub fn write_edge_list(&self, path: &Path) -> Result<(), DataError> {
        let mut out = Output::create(path)?;
        self.write_edge_list_to(&mut out)
            .and_then(|()| out.finish())
            .map_err(|e| DataError::io(path, "write", e))
    }

    /// Write the edge list (as [`write_edge_list`](Self::write_edge_list)) to `writer`.
    ///
    /// # Errors
    ///
    /// Any error of `writer`.
    pub fn write_edge_list_to(&self, mut writer: impl Write) -> std::io::Result<()> {
        writeln!(writer, "# scalinglab edge list: undirected, one edge \"u v\" per line")?;
        writeln!(writer, "# nodes: {}", self.num_nodes())?;
        writeln!(writer, "# edges: {}", self.num_edges())?;
        for (a, b) in self.edges() {
            writeln!(writer, "{a} {b}")?;
        }
        Ok(())
    }
}
