//! Labelled example sets for evaluating the text classifiers (`tone`, `chase`): reading a
//! `label<TAB>text` file and counting how a classifier did. Test code only.

/// One labelled message.
pub(crate) struct Example {
    pub positive: bool,
    pub text: String,
    /// Written after the classifier was tuned (below the "# Fresh" comment in the file): only
    /// these say how it does on wording it was not fitted to.
    pub fresh: bool,
}

/// The examples of a file whose labels are `positive` or `negative` (`\n` in a text is a line
/// break; lines starting with `#` are comments).
pub(crate) fn read(file: &str, positive: &str, negative: &str) -> Vec<Example> {
    let mut fresh = false;
    let mut out = Vec::new();
    for line in file.lines() {
        if line.starts_with("# Fresh") {
            fresh = true;
        }
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (label, text) = line.split_once('\t').expect("label TAB text");
        assert!(
            label == positive || label == negative,
            "unknown label {label:?}"
        );
        out.push(Example {
            positive: label == positive,
            text: text.replace("\\n", "\n"),
            fresh,
        });
    }
    out
}

#[derive(Default)]
pub(crate) struct Confusion {
    tp: usize,
    fp: usize,
    fneg: usize,
    tn: usize,
}

impl Confusion {
    pub fn add(&mut self, label: bool, predicted: bool) {
        match (label, predicted) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fneg += 1,
            (false, false) => self.tn += 1,
        }
    }

    pub fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }

    pub fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fneg).max(1) as f64
    }

    pub fn line(&self, name: &str) -> String {
        format!(
            "{name:<8} n={:<3} tp={:<3} fp={:<3} fn={:<3} tn={:<3} precision={:.3} recall={:.3}",
            self.tp + self.fp + self.fneg + self.tn,
            self.tp,
            self.fp,
            self.fneg,
            self.tn,
            self.precision(),
            self.recall()
        )
    }
}
