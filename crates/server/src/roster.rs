//! Rosters: a CSV of the people of a course (name, affiliation, email, role) in, a CSV of their
//! personal links out. A roster is checked whole before any invite is made, so a mistake on one
//! line changes nothing.

use lectern_proto::Role;

use crate::audit::csv_field;

/// Most people in one roster.
pub const MAX_ROWS: usize = 5000;

/// Largest roster, in bytes.
pub const MAX_BYTES: usize = 1024 * 1024;

/// One person of a roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub affiliation: String,
    pub email: String,
    pub role: Role,
}

/// Parses CSV text (RFC 4180: commas, double quotes, CRLF or LF) into rows of fields.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut line = 1;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => {
                    if c == '\n' {
                        line += 1;
                    }
                    field.push(c);
                }
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            '"' => return Err(format!("line {line}: a quote inside an unquoted field")),
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                line += 1;
            }
            c => field.push(c),
        }
    }
    if quoted {
        return Err(format!("line {line}: a quoted field is not closed"));
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    // Blank lines are skipped.
    rows.retain(|r| !(r.len() == 1 && r[0].trim().is_empty()));
    Ok(rows)
}

/// Reads a roster: a header row naming the columns `name`, `affiliation`, `email`, `role` (any
/// order, any case; `affiliation`, `email` and `role` may be missing; the role defaults to
/// participant), then one person per row.
pub fn parse(text: &str) -> Result<Vec<Person>, String> {
    if text.len() > MAX_BYTES {
        return Err(format!("a roster has at most {MAX_BYTES} bytes"));
    }
    let rows = parse_csv(text)?;
    let Some((header, people)) = rows.split_first() else {
        return Err("the roster is empty (expected a header: name,affiliation,email,role)".into());
    };
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let Some(name_col) = col("name") else {
        return Err(
            "the header has no `name` column (expected name,affiliation,email,role)".into(),
        );
    };
    let (aff_col, email_col, role_col) = (col("affiliation"), col("email"), col("role"));
    if people.is_empty() {
        return Err("the roster has a header but nobody in it".into());
    }
    if people.len() > MAX_ROWS {
        return Err(format!("a roster has at most {MAX_ROWS} people"));
    }
    let mut out = Vec::with_capacity(people.len());
    for (i, row) in people.iter().enumerate() {
        let line = i + 2;
        let get = |c: Option<usize>| {
            c.and_then(|c| row.get(c))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let name = get(Some(name_col));
        if name.is_empty() {
            return Err(format!("line {line}: the name is empty"));
        }
        let role_text = get(role_col).to_ascii_lowercase().replace([' ', '-'], "_");
        let role = if role_text.is_empty() {
            Role::Participant
        } else {
            match Role::parse(&role_text) {
                Some(Role::Admin) => {
                    return Err(format!(
                        "line {line}: admins are not invited through a roster"
                    ))
                }
                Some(r) => r,
                None => {
                    return Err(format!(
                        "line {line}: unknown role {role_text:?} (facilitator, participant, \
                         replay_viewer or room_display)"
                    ))
                }
            }
        };
        out.push(Person {
            name,
            affiliation: get(aff_col),
            email: get(email_col),
            role,
        });
    }
    Ok(out)
}

/// One line of the links CSV.
pub struct LinkRow<'a> {
    pub person: &'a Person,
    pub invite: &'a str,
    pub expires_utc: String,
    pub link: String,
}

/// The links CSV: the roster's columns, then the invite's id, expiry and personal link.
pub fn links_csv(rows: &[LinkRow<'_>]) -> String {
    let mut out = String::from("name,affiliation,email,role,invite,expires_utc,link\r\n");
    for r in rows {
        let fields = [
            r.person.name.as_str(),
            &r.person.affiliation,
            &r.person.email,
            r.person.role.as_str(),
            r.invite,
            &r.expires_utc,
            &r.link,
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_roster() {
        let text = "\u{feff}Name,Affiliation,Email,Role\r\n\
                    Ana Pérez,\"Trinidad and Tobago Police Service\",ana@example.org,participant\r\n\
                    \"O'Neil, Brian\",Customs,brian@example.org,Facilitator\r\n\
                    \r\n\
                    Chantal,\"Douane \"\"Nord\"\"\",,room display\n\
                    Dee,,,\n";
        let people = parse(text).unwrap();
        assert_eq!(people.len(), 4);
        assert_eq!(people[0].affiliation, "Trinidad and Tobago Police Service");
        assert_eq!(people[1].name, "O'Neil, Brian");
        assert_eq!(people[1].role, Role::Facilitator);
        assert_eq!(people[2].affiliation, "Douane \"Nord\"");
        assert_eq!(people[2].role, Role::RoomDisplay);
        assert_eq!(people[3].role, Role::Participant);
        // Columns in another order, some missing.
        let people = parse("email,name\nx@y.z,Eve\n").unwrap();
        assert_eq!(people[0].name, "Eve");
        assert_eq!(people[0].email, "x@y.z");
    }

    #[test]
    fn refuses_bad_rosters_with_the_line() {
        for (text, needle) in [
            ("", "empty"),
            ("name\n", "nobody"),
            ("who,email\nx,y\n", "no `name`"),
            ("name,role\nAna,admin\n", "line 2: admins"),
            (
                "name,role\nAna,participant\nBo,boss\n",
                "line 3: unknown role",
            ),
            ("name\n\"Ana\n", "not closed"),
            ("name,email\nA\"na,x\n", "quote inside"),
            ("name,email\n,x@y.z\n", "line 2: the name is empty"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
        let big = format!("name\n{}", "a\n".repeat(MAX_ROWS + 1));
        assert!(parse(&big).unwrap_err().contains("at most"));
    }

    #[test]
    fn links_csv_quotes() {
        let p = Person {
            name: "O'Neil, Brian".into(),
            affiliation: "=HYPERLINK()".into(),
            email: String::new(),
            role: Role::Participant,
        };
        let csv = links_csv(&[LinkRow {
            person: &p,
            invite: "id",
            expires_utc: "2026-12-01T00:00:00Z".into(),
            link: "http://x/course#k=a.b".into(),
        }]);
        assert!(csv.contains("\"O'Neil, Brian\",'=HYPERLINK(),,participant,id,"));
        let back = parse_csv(&csv).unwrap();
        assert_eq!(back[1][0], "O'Neil, Brian");
    }
}
