//! A demo caseload run through the domain core: each citizen's ORS/SRS trajectory as a text
//! chart, with the reliable-change status and the alerts a worker would see.
//! `cargo run -p fit-core --example demo -- en` prints it in English.
use std::io::{self, Write};

use fit_core::interpret::{Measure, OutcomeChange};
use fit_core::response::{MarkedBy, RawAnswer, ResponseContent, ResponseInput};
use fit_core::text::format_tenths;
use fit_core::{AgeBand, IdGenerator, Lang, ScaleSet, VisitScores, interpret, validate_response};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// A citizen of the demo: a pseudonym, an age band and (ORS total, SRS total) per visit in tenths.
struct DemoCitizen {
    name: &'static str,
    age: AgeBand,
    visits: &'static [(i64, i64)],
}

const CASELOAD: [DemoCitizen; 3] = [
    DemoCitizen { name: "Borger A", age: AgeBand::Adult, visits: &[(180, 380), (205, 385), (232, 390), (266, 392)] },
    DemoCitizen { name: "Borger B", age: AgeBand::Adult, visits: &[(240, 385), (228, 372), (185, 355)] },
    DemoCitizen {
        name: "Borger C",
        age: AgeBand::Adolescent,
        visits: &[(220, 380), (231, 381), (215, 379), (228, 384), (224, 380), (236, 386)],
    },
];

/// Splits a total in tenths over the four items of a 0–40 scale.
fn four_items(total: i64) -> [i64; 4] {
    let (base, remainder) = (total / 4, total % 4);
    std::array::from_fn(|i| base + i64::from((i as i64) < remainder))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match print_caseload() {
        // Piped into `head`: stop quietly, as command-line tools do.
        Err(e) if e.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) => Ok(()),
        other => other,
    }
}

fn print_caseload() -> Result<(), Box<dyn std::error::Error>> {
    let mut out = io::stdout().lock();
    let lang = match std::env::args().nth(1).as_deref() {
        Some("en") => Lang::En,
        _ => Lang::Da,
    };
    let t = |da: &'static str, en: &'static str| if lang == Lang::Da { da } else { en };
    let scales = ScaleSet::built_in()?;
    let mut ids = IdGenerator::new(StdRng::seed_from_u64(2026));
    let day_ms = 86_400_000;
    let start_ms = 1_795_392_000_000;

    writeln!(out, "FIT Field: {}\n", t("demo-sagsstamme", "demo caseload"))?;
    for citizen in &CASELOAD {
        let mut visits = Vec::new();
        for (n, (ors, srs)) in citizen.visits.iter().enumerate() {
            let mut responses = Vec::new();
            for (code, total) in [("ors", *ors), ("srs", *srs)] {
                let scale = scales.find(code).ok_or("built-in scale missing")?;
                let answers = scale
                    .items
                    .iter()
                    .zip(four_items(total))
                    .map(|(item, value)| RawAnswer { item: item.id.0.clone(), value: value.into() })
                    .collect();
                let input = ResponseInput {
                    scale: code.into(),
                    content: ResponseContent::Given { marked_by: MarkedBy::CitizenOnDevice, answers },
                };
                responses.push(validate_response(&scales, &input)?);
            }
            visits.push(VisitScores { visit: ids.next(start_ms + 7 * day_ms * n as u64), responses });
        }
        let trajectory = interpret(&scales, citizen.age, &visits);
        print_citizen(&mut out, citizen.name, &trajectory, lang)?;
    }
    Ok(())
}

fn print_citizen(out: &mut impl Write, name: &str, trajectory: &fit_core::Trajectory, lang: Lang) -> io::Result<()> {
    let t = |da: &'static str, en: &'static str| if lang == Lang::Da { da } else { en };
    let Some(outcome) = &trajectory.outcome else { return Ok(()) };
    let change = match (outcome.change, outcome.clinically_significant) {
        (OutcomeChange::ReliableImprovement, true) => {
            t("klinisk signifikant forbedring", "clinically significant change")
        }
        (OutcomeChange::ReliableImprovement, false) => t("pålidelig forbedring", "reliable improvement"),
        (OutcomeChange::ReliableDeterioration, _) => t("pålidelig forværring", "reliable deterioration"),
        (OutcomeChange::NoReliableChange, _) => t("ingen pålidelig ændring", "no reliable change"),
    };
    writeln!(
        out,
        "{name}: ORS {} → {} ({change}); {} {}",
        format_tenths(outcome.first_tenths, lang),
        format_tenths(outcome.latest_tenths, lang),
        t("grænse", "cutoff"),
        format_tenths(outcome.cutoff_tenths, lang),
    )?;
    // One character per point on the 0–40 scale; `|` marks the cutoff.
    let cutoff_column = (outcome.cutoff_tenths / 10) as usize;
    for point in &trajectory.points {
        let total = |m: &Option<Measure>| match m {
            Some(Measure::Given { total, .. }) => Some(total.score),
            _ => None,
        };
        let (Some(ors), srs) = (total(&point.outcome), total(&point.alliance)) else { continue };
        let bar: String = (0..40)
            .map(|c| {
                if c == cutoff_column {
                    '|'
                } else if c < (ors / 10) as usize {
                    '█'
                } else {
                    ' '
                }
            })
            .collect();
        let srs = srs.map(|s| format_tenths(s, lang)).unwrap_or_default();
        writeln!(out, "  {:>2}  ORS {:>4}  {bar}  SRS {srs:>4}", point.number, format_tenths(ors, lang))?;
    }
    if trajectory.alerts.is_empty() {
        writeln!(out, "  {}", t("Ingen advarsler", "No alerts"))?;
    }
    for alert in &trajectory.alerts {
        writeln!(out, "  ! {} ({})", alert.text.get(lang), alert.code.as_str())?;
    }
    writeln!(out)
}
