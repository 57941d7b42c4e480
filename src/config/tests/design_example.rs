//! The repository's `config.toml` and the design example parse; the example's keys that later
//! issues build are listed, and each of them is still refused.

use std::path::Path;

use super::*;

/// Keys of the design example (`shared/design/config.example.toml`) that later issues build:
/// the example must parse without them, and each must still be refused as unknown, so that
/// whoever implements one also takes it off this list.
const PENDING_KEYS: &[&str] = &[];

/// The table at a dotted path (numbers index arrays of tables) and the last key of `path`.
fn parent_of<'t, 'p>(
    table: &'t mut toml::Table,
    path: &'p str,
) -> Option<(&'t mut toml::Table, &'p str)> {
    let (parent, last) = path.rsplit_once('.').unwrap_or(("", path));
    let mut at = table;
    for part in parent.split('.').filter(|p| !p.is_empty()) {
        at = match at.get_mut(part)? {
            toml::Value::Table(t) => t,
            _ => return None,
        };
    }
    Some((at, last))
}

#[test]
fn the_repository_config_and_the_design_example_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = dir.join("config.toml");
    let text = std::fs::read_to_string(&path).expect("the repository's config.toml");
    let c = Config::parse(&text, &path, &env).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.signing.unwrap().channels[0].config_id,
        "817854979183314945"
    );

    let path = dir.join("../shared/design/config.example.toml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return; // Outside this workplace the design folder is not beside the repository.
    };
    let mut table: toml::Table = text.parse().expect("the design example is TOML");
    // `routes.3` addresses the fourth [[routes]]: make the array a table keyed by index.
    let routes = table.remove("routes").expect("routes");
    let routes: toml::Table = routes
        .as_array()
        .expect("[[routes]]")
        .iter()
        .enumerate()
        .map(|(i, r)| (i.to_string(), r.clone()))
        .collect();
    table.insert("routes".into(), toml::Value::Table(routes));
    let mut removed = Vec::new();
    for key in PENDING_KEYS {
        let (parent, last) = parent_of(&mut table, key).expect("a table on the path");
        let value = parent
            .remove(last)
            .unwrap_or_else(|| panic!("{key} is no longer in the design example"));
        removed.push((*key, value));
    }
    let text_of = |t: &toml::Table| {
        let mut t = t.clone();
        let routes = t.remove("routes").expect("routes");
        let routes: Vec<toml::Value> = routes
            .as_table()
            .expect("routes")
            .values()
            .cloned()
            .collect();
        t.insert("routes".into(), toml::Value::Array(routes));
        toml::to_string(&t).expect("serializable")
    };
    let rest = text_of(&table);
    let c = Config::parse(&rest, &path, &env).unwrap_or_else(|e| panic!("{e}\n{rest}"));
    assert_eq!(
        c.signing.unwrap().channels[0].config_id,
        "817854979183314945"
    );
    for (key, value) in removed {
        let mut with = table.clone();
        let (parent, last) = parent_of(&mut with, key).expect("a table on the path");
        parent.insert(last.to_owned(), value);
        let refused = match Config::parse(&text_of(&with), &path, &env) {
            Ok(_) => panic!("{key} is accepted now: take it off PENDING_KEYS"),
            Err(e) => e.to_string(),
        };
        assert!(
            refused.contains(&format!("unknown field `{last}`")),
            "{key}: {refused}"
        );
    }
}
