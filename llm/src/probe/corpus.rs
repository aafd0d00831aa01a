//! The built-in corpus: 30 short English documents written for this project (original text,
//! released under the project's licence, MIT OR Apache-2.0). Used when `llm probe` gets no
//! `--docs`, so that the defaults run without any download.
//!
//! The documents are separated by blank lines in `llm/corpus/builtin.txt`; each is one
//! paragraph of 400–550 characters of everyday prose (nature, science, history, daily life).

/// The raw text of the built-in corpus (documents separated by blank lines).
pub const BUILTIN_CORPUS: &str = include_str!("../../corpus/builtin.txt");

/// Name used in `tasks.json` for documents of the built-in corpus.
pub const BUILTIN_NAME: &str = "built-in corpus";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_corpus_has_thirty_nonempty_documents() {
        let docs: Vec<&str> = BUILTIN_CORPUS
            .split("\n\n")
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .collect();
        assert_eq!(docs.len(), 30);
        assert!(docs.iter().all(|d| d.len() > 300));
    }
}
