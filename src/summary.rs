//! The validator summary: the table operators read and the JSON document stored as
//! `affine/weights/summary-{block}.json` (`data` part), built from a [`ScoreReport`].

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::environments::ENVIRONMENTS;
use crate::scoring::{ENV_COUNT, MinerScore, ScoreReport};

/// Model names longer than this are cut in the printed table (not in JSON).
const TABLE_MODEL_WIDTH: usize = 30;

/// One environment's figures for one miner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvSummary {
    /// Mean normalised score.
    pub accuracy: f64,
    /// Deduplicated sample count.
    pub count: u32,
    /// Jeffreys interval.
    pub confidence_interval: Interval,
    /// Whether the miner won this environment.
    pub is_winner: bool,
}

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

/// One miner in the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinerSummary {
    /// Metagraph uid.
    pub uid: u32,
    /// Hotkey.
    pub hotkey: String,
    /// Model of the latest record.
    pub model: Option<String>,
    /// Revision of the latest record.
    pub revision: Option<String>,
    /// Per-environment figures, by environment id.
    pub environments: BTreeMap<String, EnvSummary>,
    /// Points per scored layer, `L3` .. `L8`.
    pub layer_points: BTreeMap<String, f64>,
    /// Total points.
    pub total_score: f64,
    /// Eligible for weight.
    pub eligible: bool,
    /// First commitment block.
    pub first_block: Option<i64>,
    /// Weight.
    pub weight: f64,
}

/// Counts shown under the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SummaryStats {
    /// Eligible miners.
    pub eligible_count: usize,
    /// Miners with records in the window.
    pub active_count: usize,
    /// Miners that passed the validity checks.
    pub queryable_count: usize,
    /// Uids in the metagraph.
    pub total_miners: usize,
}

/// The summary document (`data` of a stored weights summary).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Column titles.
    pub header: Vec<String>,
    /// Table rows with full model names (legacy format kept for dashboards).
    pub rows: Vec<Vec<Value>>,
    /// Structured per-miner data, by hotkey.
    pub miners: BTreeMap<String, MinerSummary>,
    /// Counts.
    pub stats: SummaryStats,
    /// Winner hotkey of each environment.
    pub env_winners: BTreeMap<String, Option<String>>,
    /// Environment ids in column order.
    pub environments: Vec<String>,
    /// Why weights fell back to uid 0, if they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn layer_names(report: &ScoreReport) -> Vec<String> {
    (report.min_layer..=ENV_COUNT).map(|layer| format!("L{layer}")).collect()
}

fn env_cell(miner: &MinerScore, env: usize, winner: bool) -> String {
    let (lower, upper) = miner.intervals[env];
    let cell = format!("{:.2}/[{:.2},{:.2}]/{}", 100.0 * miner.accuracy[env], 100.0 * lower, 100.0 * upper, miner.counts[env]);
    if winner { format!("*{cell}*") } else { cell }
}

/// Rows in display order: eligible miners by points, then the other active miners by points;
/// ties by uid.
fn ordered(report: &ScoreReport) -> Vec<&MinerScore> {
    let mut miners: Vec<&MinerScore> = report.miners.iter().collect();
    let rounded = |points: f64| (points * 100.0).round();
    miners.sort_by(|a, b| b.eligible.cmp(&a.eligible).then(rounded(b.points).total_cmp(&rounded(a.points))).then(a.uid.cmp(&b.uid)));
    miners
}

impl Summary {
    /// Builds the summary of `report` for a metagraph with `hotkeys`.
    #[must_use]
    pub fn build(report: &ScoreReport, hotkeys: &[String]) -> Self {
        let hotkey_of = |uid: u32| hotkeys.get(uid as usize).cloned().unwrap_or_default();
        let layers = layer_names(report);
        let header: Vec<String> = ["UID", "Hotkey", "Model", "Rev"]
            .into_iter()
            .map(str::to_owned)
            .chain(ENVIRONMENTS.iter().map(|e| e.id.to_owned()))
            .chain(layers.iter().cloned())
            .chain(["Pts", "Elig", "FirstBlk", "Wgt"].into_iter().map(str::to_owned))
            .collect();
        let is_winner = |miner: &MinerScore, env: usize| report.env_winners[env] == Some(miner.uid);
        let rows = ordered(report)
            .into_iter()
            .map(|miner| {
                let identity = miner.identity.as_ref();
                let revision: String = identity.and_then(|i| i.revision.as_deref()).unwrap_or("None").chars().take(5).collect();
                let mut row = vec![
                    json!(miner.uid),
                    json!(hotkey_of(miner.uid)),
                    json!(identity.and_then(|i| i.model.as_deref()).unwrap_or("None")),
                    json!(revision),
                ];
                row.extend((0..ENV_COUNT).map(|env| json!(env_cell(miner, env, is_winner(miner, env)))));
                row.extend(miner.layer_points.iter().map(|points| json!(format!("{points:.1}"))));
                row.push(json!(format!("{:.2}", miner.points)));
                row.push(json!(if miner.eligible { "Y" } else { "N" }));
                row.push(json!(miner.first_block.unwrap_or(0).to_string()));
                row.push(json!(format!("{:.4}", miner.weight)));
                row
            })
            .collect();
        let miners = report
            .miners
            .iter()
            .map(|miner| {
                let environments = ENVIRONMENTS
                    .iter()
                    .enumerate()
                    .map(|(env, spec)| {
                        let (lower, upper) = miner.intervals[env];
                        let figures = EnvSummary {
                            accuracy: miner.accuracy[env],
                            count: miner.counts[env],
                            confidence_interval: Interval { lower, upper },
                            is_winner: is_winner(miner, env),
                        };
                        (spec.id.to_owned(), figures)
                    })
                    .collect();
                let summary = MinerSummary {
                    uid: miner.uid,
                    hotkey: hotkey_of(miner.uid),
                    model: miner.identity.as_ref().and_then(|i| i.model.clone()),
                    revision: miner.identity.as_ref().and_then(|i| i.revision.clone()),
                    environments,
                    layer_points: layers.iter().cloned().zip(miner.layer_points.iter().copied()).collect(),
                    total_score: miner.points,
                    eligible: miner.eligible,
                    first_block: miner.first_block,
                    weight: miner.weight,
                };
                (summary.hotkey.clone(), summary)
            })
            .collect();
        Self {
            header,
            rows,
            miners,
            stats: SummaryStats {
                eligible_count: report.miners.iter().filter(|m| m.eligible).count(),
                active_count: report.miners.len(),
                queryable_count: report.queryable_count,
                total_miners: hotkeys.len(),
            },
            env_winners: ENVIRONMENTS.iter().zip(report.env_winners).map(|(spec, uid)| (spec.id.to_owned(), uid.map(hotkey_of))).collect(),
            environments: ENVIRONMENTS.iter().map(|e| e.id.to_owned()).collect(),
            note: report.note.clone(),
        }
    }

    /// The rows as text cells for the printed table, model names cut to 30 characters.
    #[must_use]
    pub fn table_rows(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(column, cell)| {
                        let text = cell.as_str().map_or_else(|| cell.to_string(), str::to_owned);
                        if column == 2 { text.chars().take(TABLE_MODEL_WIDTH).collect() } else { text }
                    })
                    .collect()
            })
            .collect()
    }
}
