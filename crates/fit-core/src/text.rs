//! Text in the two languages of the product (Danish first, English switchable),
//! and formatting of scores the way each language writes them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A language the product speaks. Danish is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default, TS)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Da,
    En,
}

impl Lang {
    /// Parses a BCP 47 language code as used in packs (`da`, `en`, `da-DK`, `en-GB`).
    pub fn from_code(code: &str) -> Option<Lang> {
        let primary = code.split('-').next().unwrap_or(code);
        match primary.to_ascii_lowercase().as_str() {
            "da" => Some(Lang::Da),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// A text in Danish and English. At least one is present; `get` falls back to the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Text {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub da: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub en: Option<String>,
}

impl Text {
    pub fn new(da: impl Into<String>, en: impl Into<String>) -> Text {
        Text { da: Some(da.into()), en: Some(en.into()) }
    }

    /// The text in `lang`, or in the other language when this one is missing.
    pub fn get(&self, lang: Lang) -> &str {
        let (first, second) = match lang {
            Lang::Da => (&self.da, &self.en),
            Lang::En => (&self.en, &self.da),
        };
        first.as_deref().or(second.as_deref()).unwrap_or("")
    }
}

/// Formats integer tenths as a decimal with one digit: `249` → `24,9` in Danish, `24.9` in English.
pub fn format_tenths(tenths: i64, lang: Lang) -> String {
    let sign = if tenths < 0 { "-" } else { "" };
    let abs = tenths.unsigned_abs();
    let separator = match lang {
        Lang::Da => ',',
        Lang::En => '.',
    };
    format!("{sign}{}{separator}{}", abs / 10, abs % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenths_are_written_with_a_decimal_comma_in_danish_and_a_point_in_english() {
        assert_eq!(format_tenths(249, Lang::Da), "24,9");
        assert_eq!(format_tenths(249, Lang::En), "24.9");
        assert_eq!(format_tenths(0, Lang::Da), "0,0");
        assert_eq!(format_tenths(-50, Lang::En), "-5.0");
        assert_eq!(format_tenths(-5, Lang::Da), "-0,5");
    }

    #[test]
    fn a_text_missing_in_one_language_falls_back_to_the_other() {
        let only_danish = Text { da: Some("Generelt".into()), en: None };
        assert_eq!(only_danish.get(Lang::En), "Generelt");
        assert_eq!(Text::new("Socialt", "Socially").get(Lang::En), "Socially");
    }
}
