use serde_json::{Value, json};

use super::*;
use crate::scale::{AnswerKind, Population, ScaleKind};

fn built_in() -> ScaleSet {
    ScaleSet::built_in().expect("the built-in packs load")
}

fn ors_json() -> Value {
    serde_json::from_str(BUILT_IN_PACKS[0].1).unwrap()
}

/// Parses the ORS pack after `change` has broken it, and returns the error.
fn broken_ors(change: impl FnOnce(&mut Value)) -> PackError {
    let mut pack = ors_json();
    change(&mut pack);
    parse_pack("scales/broken.json", pack.to_string().as_bytes()).expect_err("the broken pack is refused")
}

fn labels(set: &ScaleSet, code: &str, lang: Lang) -> Vec<String> {
    set.find(code).unwrap().items.iter().map(|i| i.text.get(lang).to_owned()).collect()
}

#[test]
fn every_built_in_pack_loads_with_its_kind_and_population() {
    let set = built_in();
    let summary: Vec<_> = set.iter().map(|s| (s.code.as_str(), s.kind, s.population, s.items.len())).collect();
    assert_eq!(
        summary,
        [
            ("cors", ScaleKind::Outcome, Population::Child, 4),
            ("csrs", ScaleKind::Alliance, Population::Child, 4),
            ("gsrs", ScaleKind::Alliance, Population::Group, 4),
            ("ors", ScaleKind::Outcome, Population::Adult, 4),
            ("srs", ScaleKind::Alliance, Population::Adult, 4),
            ("who5", ScaleKind::Wellbeing, Population::Adult, 5),
        ]
    );
}

#[test]
fn ors_ships_danish_and_english_short_labels_only() {
    let set = built_in();
    assert_eq!(labels(&set, "ors", Lang::Da), ["Individuelt", "Nære relationer", "Socialt", "Generelt"]);
    assert_eq!(labels(&set, "ors", Lang::En), ["Individually", "Interpersonally", "Socially", "Overall"]);
    assert!(!set.find("ors").unwrap().full_text);
}

#[test]
fn srs_and_cors_ship_their_short_labels() {
    let set = built_in();
    assert_eq!(labels(&set, "srs", Lang::Da), ["Relation", "Mål og emner", "Tilgang eller metode", "Generelt"]);
    assert_eq!(labels(&set, "srs", Lang::En), ["Relationship", "Goals and Topics", "Approach or Method", "Overall"]);
    assert_eq!(labels(&set, "cors", Lang::En), ["Me", "Family", "School", "Everything"]);
}

#[test]
fn vas_items_are_tenths_from_0_to_100() {
    let set = built_in();
    for code in ["ors", "srs", "cors", "csrs", "gsrs"] {
        for item in &set.find(code).unwrap().items {
            assert_eq!(item.answer, AnswerKind::Vas { min_tenths: 0, max_tenths: 100 }, "{code} {}", item.id);
        }
    }
}

#[test]
fn who5_carries_the_official_danish_text_its_options_and_its_snomed_code() {
    let set = built_in();
    let who5 = set.find("who5").unwrap();
    assert_eq!(who5.stem.as_ref().unwrap().get(Lang::Da), "I de sidste 2 uger…");
    assert_eq!(
        labels(&set, "who5", Lang::Da),
        [
            "har jeg været glad og i godt humør",
            "har jeg følt mig rolig og afslappet",
            "har jeg følt mig aktiv og energisk",
            "er jeg vågnet frisk og udhvilet",
            "har min dagligdag været fyldt med ting der interesserer mig",
        ]
    );
    let AnswerKind::Choice { options } = &who5.items[0].answer else { panic!("WHO-5 items are choices") };
    let options: Vec<_> = options.iter().map(|o| (o.value, o.text.get(Lang::Da))).collect();
    assert_eq!(
        options,
        [
            (5, "Hele tiden"),
            (4, "Det meste af tiden"),
            (3, "Lidt mere end halvdelen af tiden"),
            (2, "Lidt mindre end halvdelen af tiden"),
            (1, "Lidt af tiden"),
            (0, "På intet tidspunkt"),
        ]
    );
    assert_eq!(who5.score_multiplier, 4);
    assert_eq!(who5.total_code.as_ref().unwrap().code, "1144665009");
    assert!(who5.full_text);
}

#[test]
fn who5_has_an_english_text_too() {
    let set = built_in();
    assert_eq!(labels(&set, "who5", Lang::En)[0], "I have felt cheerful and in good spirits");
}

#[test]
fn a_pack_that_is_not_json_names_the_file() {
    let error = parse_pack("scales/ors.json", b"{ \"resourceType\": ").unwrap_err();
    assert_eq!(error.file, "scales/ors.json");
    assert!(matches!(error.problem, PackProblem::Syntax(_)), "{error}");
}

#[test]
fn a_missing_item_id_names_the_item_and_the_field() {
    let error = broken_ors(|p| {
        p["item"][1].as_object_mut().unwrap().remove("linkId");
    });
    assert_eq!((error.field.as_str(), &error.problem), ("item[1].linkId", &PackProblem::Missing));
    assert_eq!(error.to_string(), "scales/broken.json: item[1].linkId: missing");
}

#[test]
fn a_field_of_the_wrong_type_is_named() {
    let error = broken_ors(|p| p["item"][2]["text"] = json!(42));
    assert_eq!(error.field, "item[2].text");
    assert!(matches!(error.problem, PackProblem::WrongType(_)), "{error}");
}

#[test]
fn a_duplicate_item_id_is_refused() {
    let error = broken_ors(|p| p["item"][3]["linkId"] = json!("individually"));
    assert_eq!(error.field, "item[3].linkId");
    assert_eq!(error.problem, PackProblem::DuplicateItem("individually".into()));
}

#[test]
fn a_line_whose_maximum_has_two_decimals_is_refused() {
    let error = broken_ors(|p| p["item"][0]["extension"][1]["valueDecimal"] = json!(9.95));
    assert_eq!(error.field, "item[0].extension[1].valueDecimal");
}

#[test]
fn an_unknown_scale_kind_is_refused() {
    let error = broken_ors(|p| p["extension"][0]["valueCode"] = json!("mood"));
    assert_eq!(error.field, "extension[0].valueCode");
    assert!(matches!(error.problem, PackProblem::Invalid { .. }));
}

#[test]
fn a_pack_without_a_scale_kind_is_refused() {
    let error = broken_ors(|p| {
        p["extension"].as_array_mut().unwrap().remove(0);
    });
    assert_eq!(error.field, "extension[urn:fit-field:extension:scale-kind]");
    assert_eq!(error.problem, PackProblem::Missing);
}

#[test]
fn an_unsupported_item_type_is_named() {
    let error = broken_ors(|p| p["item"][0]["type"] = json!("string"));
    assert_eq!(error.field, "item[0].type");
    assert!(matches!(error.problem, PackProblem::Unsupported(_)));
}

#[test]
fn an_outcome_scale_must_have_four_lines_because_its_cutoffs_assume_a_0_to_40_total() {
    let error = broken_ors(|p| {
        p["item"].as_array_mut().unwrap().pop();
    });
    assert_eq!(error.field, "item");
}

#[test]
fn a_resource_that_is_not_a_questionnaire_is_refused() {
    let error = broken_ors(|p| p["resourceType"] = json!("Patient"));
    assert_eq!(error.field, "resourceType");
}

#[test]
fn an_invalid_scale_code_is_refused() {
    let error = broken_ors(|p| p["id"] = json!("ORS full"));
    assert_eq!(error.field, "id");
}

#[test]
fn two_packs_of_the_same_code_in_one_set_are_refused() {
    let ors = BUILT_IN_PACKS[0].1.as_bytes();
    let error = ScaleSet::from_packs([("a.json", ors), ("b.json", ors)]).unwrap_err();
    assert_eq!((error.file.as_str(), error.problem), ("b.json", PackProblem::DuplicateScale("ors".into())));
}

fn licensed_ors() -> Value {
    let mut pack = ors_json();
    pack["version"] = json!("licensed-2024");
    pack["item"][0]["text"] = json!("Individuelt (personlig trivsel)");
    pack["extension"][2]["valueBoolean"] = json!(true);
    pack["extension"].as_array_mut().unwrap().push(json!({
        "url": "urn:fit-field:extension:expected-trajectory",
        "extension": [
            { "url": "band", "extension": [
                { "url": "intakeFrom", "valueDecimal": 0 },
                { "url": "intakeTo", "valueDecimal": 19.9 },
                { "url": "expected", "valueDecimal": 15.0 },
                { "url": "expected", "valueDecimal": 18.5 }
            ]}
        ]
    }));
    pack
}

#[test]
fn a_licensed_pack_with_full_text_and_an_expected_trajectory_replaces_the_short_labels() {
    let mut set = built_in();
    let licensed = parse_pack("licensed/ors.json", licensed_ors().to_string().as_bytes()).unwrap();
    let replaced = set.install(licensed).expect("the built-in ORS was replaced");
    assert_eq!(replaced.version, "short-labels-1");
    let ors = set.find("ors").unwrap();
    assert!(ors.full_text);
    assert_eq!(ors.items[0].text.get(Lang::Da), "Individuelt (personlig trivsel)");
    let table = ors.expected_trajectory.as_ref().unwrap();
    assert_eq!(table.expected(120, 1), Some(185));
    assert_eq!(table.expected(120, 2), None);
    assert_eq!(table.expected(250, 0), None);
}

#[test]
fn an_expected_trajectory_band_without_its_upper_bound_is_refused() {
    let mut pack = licensed_ors();
    pack["extension"][4]["extension"][0]["extension"].as_array_mut().unwrap().remove(1);
    let error = parse_pack("licensed/ors.json", pack.to_string().as_bytes()).unwrap_err();
    assert_eq!(error.field, "extension[4].extension[0].extension[intakeTo]");
    assert_eq!(error.problem, PackProblem::Missing);
}

#[test]
fn a_pack_may_set_how_many_visits_without_improvement_raise_an_alert() {
    let mut pack = ors_json();
    pack["extension"][3]["valueInteger"] = json!(4);
    let ors = parse_pack("ors.json", pack.to_string().as_bytes()).unwrap();
    assert_eq!(ors.no_improvement_after_visits, 4);
    pack["extension"].as_array_mut().unwrap().remove(3);
    let ors = parse_pack("ors.json", pack.to_string().as_bytes()).unwrap();
    assert_eq!(ors.no_improvement_after_visits, 6);
}

#[test]
fn a_who5_whose_options_do_not_reach_100_is_refused() {
    let mut pack: Value = serde_json::from_str(BUILT_IN_PACKS[5].1).unwrap();
    pack["extension"][3]["valueInteger"] = json!(5);
    let error = parse_pack("who5.json", pack.to_string().as_bytes()).unwrap_err();
    assert_eq!(error.field, "item");
}

// ---- Admitting a pack from outside: `ScaleSet::admit`. ----

fn bytes(pack: &Value) -> Vec<u8> {
    pack.to_string().into_bytes()
}

#[test]
fn a_licensed_pack_is_admitted_as_an_update_and_installed_at_once() {
    let mut set = built_in();
    let admitted = set.admit_and_install("licensed/ors.json", &bytes(&licensed_ors())).unwrap();
    assert_eq!(
        admitted,
        Admitted::Updated { code: ScaleCode::parse("ors").unwrap(), replaces: "short-labels-1".into() }
    );
    let ors = set.find("ors").unwrap();
    assert!(ors.full_text);
    assert_eq!(ors.version, "licensed-2024");
    assert_eq!(ors.items[0].text.get(Lang::Da), "Individuelt (personlig trivsel)");
}

#[test]
fn the_same_pack_again_is_unchanged_and_a_new_scale_is_new() {
    let mut set = built_in();
    assert_eq!(set.admit("scales/ors.json", BUILT_IN_PACKS[0].1.as_bytes()).unwrap(), Admission::Unchanged);
    let mut other = ors_json();
    other["id"] = json!("ors-x");
    let admitted = set.admit_and_install("ors-x.json", &bytes(&other)).unwrap();
    assert_eq!(admitted, Admitted::New(ScaleCode::parse("ors-x").unwrap()));
    assert!(set.find("ors-x").is_some());
}

#[test]
fn a_second_licensed_version_replaces_the_first() {
    let mut set = built_in();
    set.admit_and_install("licensed/ors.json", &bytes(&licensed_ors())).unwrap();
    let mut next = licensed_ors();
    next["version"] = json!("licensed-2025");
    next["item"][0]["text"] = json!("Individuelt (hvordan du har det)");
    let admitted = set.admit_and_install("licensed/ors-2025.json", &bytes(&next)).unwrap();
    assert_eq!(
        admitted,
        Admitted::Updated { code: ScaleCode::parse("ors").unwrap(), replaces: "licensed-2024".into() }
    );
    assert_eq!(set.find("ors").unwrap().items[0].text.get(Lang::Da), "Individuelt (hvordan du har det)");
}

/// A broken pack: its name, what breaks it (a change to the licensed ORS, or to the WHO-5 pack
/// when `who5`), and the field its refusal must name.
struct Broken {
    name: &'static str,
    who5: bool,
    change: fn(&mut Value),
    field: &'static str,
}

/// At least ten broken packs, each of a different fault: broken in itself (the checks of
/// `parse_pack`) or breaking the version rules against the built-in set.
const CORPUS: &[Broken] = &[
    Broken {
        name: "not-a-questionnaire",
        who5: false,
        change: |p| p["resourceType"] = json!("Patient"),
        field: "resourceType",
    },
    Broken { name: "bad-code", who5: false, change: |p| p["id"] = json!("ORS full"), field: "id" },
    Broken { name: "empty-version", who5: false, change: |p| p["version"] = json!(" "), field: "version" },
    Broken { name: "unknown-language", who5: false, change: |p| p["language"] = json!("sv"), field: "language" },
    Broken {
        name: "no-item-id",
        who5: false,
        change: |p| {
            p["item"][1].as_object_mut().unwrap().remove("linkId");
        },
        field: "item[1].linkId",
    },
    Broken {
        name: "item-text-a-number",
        who5: false,
        change: |p| p["item"][2]["text"] = json!(42),
        field: "item[2].text",
    },
    Broken {
        name: "empty-item-text",
        who5: false,
        change: |p| p["item"][0]["text"] = json!(""),
        field: "item[0].text",
    },
    Broken {
        name: "line-of-two-decimals",
        who5: false,
        change: |p| p["item"][0]["extension"][1]["valueDecimal"] = json!(9.95),
        field: "item[0].extension[1].valueDecimal",
    },
    Broken {
        name: "three-lines",
        who5: false,
        change: |p| {
            p["item"].as_array_mut().unwrap().pop();
        },
        field: "item",
    },
    Broken {
        name: "unsupported-type",
        who5: false,
        change: |p| p["item"][0]["type"] = json!("string"),
        field: "item[0].type",
    },
    Broken {
        name: "band-without-upper-bound",
        who5: false,
        change: |p| {
            p["extension"][4]["extension"][0]["extension"].as_array_mut().unwrap().remove(1);
        },
        field: "extension[4].extension[0].extension[intakeTo]",
    },
    Broken { name: "trailing-garbage", who5: false, change: |_| {}, field: "." },
    // An item's help: one nested display item whose item control is "help", and nothing else.
    Broken {
        name: "help-not-display",
        who5: false,
        change: |p| p["item"][0]["item"][0]["type"] = json!("decimal"),
        field: "item[0].item[0].type",
    },
    Broken {
        name: "help-twice",
        who5: false,
        change: |p| {
            let help = p["item"][1]["item"][0].clone();
            p["item"][1]["item"].as_array_mut().unwrap().push(help);
        },
        field: "item[1].item",
    },
    Broken {
        name: "help-without-its-control",
        who5: false,
        change: |p| p["item"][2]["item"][0]["extension"] = json!([]),
        field: "item[2].item[0].extension",
    },
    Broken {
        name: "help-empty",
        who5: false,
        change: |p| p["item"][3]["item"][0]["text"] = json!(" "),
        field: "item[3].item[0].text",
    },
    // The version rules: against the installed (built-in) ORS and WHO-5.
    Broken {
        name: "version-reused",
        who5: false,
        change: |p| p["version"] = json!("short-labels-1"),
        field: "version",
    },
    Broken {
        name: "kind-changed",
        who5: false,
        change: |p| p["extension"][0]["valueCode"] = json!("alliance"),
        field: "extension[urn:fit-field:extension:scale-kind]",
    },
    Broken {
        name: "population-changed",
        who5: false,
        change: |p| p["extension"][1]["valueCode"] = json!("child"),
        field: "extension[urn:fit-field:extension:population]",
    },
    Broken {
        name: "item-renamed",
        who5: false,
        change: |p| p["item"][2]["linkId"] = json!("social"),
        field: "item[2].linkId",
    },
    Broken {
        name: "who5-option-values-changed",
        who5: true,
        change: |p| {
            p["version"] = json!("licensed-2");
            for item in p["item"].as_array_mut().unwrap() {
                // Drop "0" and add "-1": the total still reaches 100, but a recorded 0 would no
                // longer be an option.
                let options = item["answerOption"].as_array_mut().unwrap();
                options.pop();
                options.push(json!({ "valueCoding": { "code": "-1", "display": "Aldrig" } }));
            }
        },
        field: "item[0].answerOption",
    },
];

/// The corpus as files: (name, bytes, the field its refusal names).
fn corpus() -> Vec<(String, Vec<u8>, &'static str)> {
    CORPUS
        .iter()
        .map(|broken| {
            let mut pack =
                if broken.who5 { serde_json::from_str(BUILT_IN_PACKS[5].1).unwrap() } else { licensed_ors() };
            (broken.change)(&mut pack);
            let mut bytes = bytes(&pack);
            if broken.name == "trailing-garbage" {
                bytes.extend_from_slice(b" }");
            }
            (format!("broken/{}.json", broken.name), bytes, broken.field)
        })
        .collect()
}

#[test]
fn every_broken_pack_of_the_corpus_is_refused_with_its_file_and_field_and_changes_nothing() {
    let corpus = corpus();
    assert!(corpus.len() >= 10, "{} broken packs", corpus.len());
    for (file, bytes, field) in &corpus {
        let mut set = built_in();
        let error = set.admit_and_install(file, bytes).expect_err(file);
        assert_eq!((error.file.as_str(), error.field.as_str()), (file.as_str(), *field), "{error}");
        assert_eq!(set, built_in(), "{file} changed the set");
    }
}

#[test]
fn the_version_rules_say_which_rule_refused() {
    let set = built_in();
    let mut reused = licensed_ors();
    reused["version"] = json!("short-labels-1");
    let error = set.admit("reused.json", &bytes(&reused)).unwrap_err();
    assert_eq!(error.problem, PackProblem::VersionReused("short-labels-1".into()));
    assert!(error.problem.is_version_rule());
    let mut kind = licensed_ors();
    kind["extension"][0]["valueCode"] = json!("alliance");
    let error = set.admit("kind.json", &bytes(&kind)).unwrap_err();
    assert!(
        matches!(&error.problem, PackProblem::Changed { installed, found } if installed == "Outcome" && found == "Alliance"),
        "{error}"
    );
    let error = set.admit("bad.json", b"{").unwrap_err();
    assert!(!error.problem.is_version_rule());
}

#[test]
fn a_broken_pack_after_a_licensed_one_leaves_the_licensed_one() {
    let mut set = built_in();
    set.admit_and_install("licensed/ors.json", &bytes(&licensed_ors())).unwrap();
    let before = set.clone();
    for (file, bytes, _) in corpus() {
        let result = set.admit_and_install(&file, &bytes);
        if file == "broken/version-reused.json" {
            // Against the licensed ORS it is another version of the same meaning: admitted.
            assert!(matches!(result, Ok(Admitted::Updated { .. })), "{file}: {result:?}");
            set = before.clone();
        } else {
            assert!(result.is_err(), "{file}: {result:?}");
            assert_eq!(set, before, "{file}");
        }
    }
}

#[test]
fn the_built_in_line_scales_carry_a_help_in_plain_words_for_each_item() {
    let scales = ScaleSet::built_in().unwrap();
    for code in ["ors", "srs", "cors", "csrs", "gsrs"] {
        let scale = scales.find(code).unwrap();
        for item in &scale.items {
            let help = item.help.as_ref().unwrap_or_else(|| panic!("{code} {} has no help", item.id.0));
            assert!(help.da.as_deref().is_some_and(|t| !t.is_empty()), "{code} {} in Danish", item.id.0);
            assert!(help.en.as_deref().is_some_and(|t| !t.is_empty()), "{code} {} in English", item.id.0);
        }
    }
    assert!(scales.find("who5").unwrap().items.iter().all(|i| i.help.is_none()), "WHO-5's own text needs none");
}
