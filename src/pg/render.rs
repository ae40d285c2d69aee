//! Rendering typed statements as parameterized SQL, and table schemas as DDL.
//!
//! Values always travel as `$n` parameters (never as literals in the SQL text); identifiers
//! (table and column names) come from the app's own schema and are double-quoted.

use crate::fakes::postgres::stmt::{
    ColumnType, Cond, Filter, LockScope, OnConflict, SetValue, Stmt, TableSchema, Value,
};

/// A statement as SQL text plus its parameters, in `$1, $2, …` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The SQL text, with `$n` placeholders.
    pub sql: String,
    /// The parameter values.
    pub params: Vec<Value>,
    /// What kind of result to read back.
    pub kind: ResultKind,
}

/// How the server's answer maps to an [`crate::fakes::postgres::Outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultKind {
    /// No rows (transaction control, DDL, `pg_advisory_lock`).
    Nothing,
    /// Rows returned; `affected` is 0 (a `SELECT`).
    Select,
    /// Rows returned by `RETURNING *`; `affected` is their count.
    Returning,
    /// One row with the boolean column `locked`.
    Locked,
}

/// Quotes an identifier for SQL (`"name"`, inner quotes doubled).
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn sql_type(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::Int => "bigint",
        ColumnType::Text => "text",
        ColumnType::Bool => "boolean",
    }
}

/// A literal for a `DEFAULT` clause (defaults come from the schema, not from user input).
fn literal(value: &Value) -> String {
    value.to_string()
}

/// `CREATE TABLE` for a schema: columns, `NOT NULL`, defaults, the primary key named
/// `{table}_pkey` and each unique constraint under its own name.
pub fn create_table_sql(schema: &TableSchema) -> String {
    let mut parts: Vec<String> = schema
        .columns
        .iter()
        .map(|c| {
            let mut part = format!("{} {}", ident(&c.name), sql_type(c.column_type));
            if !c.nullable {
                part.push_str(" NOT NULL");
            }
            if let Some(default) = &c.default {
                part.push_str(&format!(" DEFAULT {}", literal(default)));
            }
            part
        })
        .collect();
    if !schema.primary_key.is_empty() {
        let cols: Vec<String> = schema.primary_key.iter().map(|c| ident(c)).collect();
        parts.push(format!(
            "CONSTRAINT {} PRIMARY KEY ({})",
            ident(&format!("{}_pkey", schema.name)),
            cols.join(", ")
        ));
    }
    for unique in &schema.unique {
        let cols: Vec<String> = unique.columns.iter().map(|c| ident(c)).collect();
        parts.push(format!(
            "CONSTRAINT {} UNIQUE ({})",
            ident(&unique.name),
            cols.join(", ")
        ));
    }
    format!(
        "CREATE TABLE {} (\n    {}\n)",
        ident(&schema.name),
        parts.join(",\n    ")
    )
}

struct Params(Vec<Value>);

impl Params {
    fn push(&mut self, value: &Value) -> String {
        self.0.push(value.clone());
        format!("${}", self.0.len())
    }
}

fn filter_sql(filter: &Filter, params: &mut Params) -> String {
    if filter.0.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = filter
        .0
        .iter()
        .map(|(col, cond)| match cond {
            Cond::Eq(v) => format!("{} = {}", ident(col), params.push(v)),
            Cond::IsNull => format!("{} IS NULL", ident(col)),
            Cond::IsNotNull => format!("{} IS NOT NULL", ident(col)),
            Cond::Lt(v) => format!("{} < {}", ident(col), params.push(v)),
        })
        .collect();
    format!(" WHERE {}", parts.join(" AND "))
}

fn lock_fn(scope: LockScope, try_lock: bool) -> &'static str {
    match (scope, try_lock) {
        (LockScope::Transaction, false) => "pg_advisory_xact_lock",
        (LockScope::Session, false) => "pg_advisory_lock",
        (LockScope::Transaction, true) => "pg_try_advisory_xact_lock",
        (LockScope::Session, true) => "pg_try_advisory_lock",
    }
}

/// Renders one statement as parameterized SQL.
pub fn render(stmt: &Stmt) -> Rendered {
    let mut params = Params(Vec::new());
    let (sql, kind) = match stmt {
        Stmt::CreateTable(schema) => (create_table_sql(schema), ResultKind::Nothing),
        Stmt::Begin => (
            "BEGIN ISOLATION LEVEL READ COMMITTED".to_string(),
            ResultKind::Nothing,
        ),
        Stmt::Commit => ("COMMIT".to_string(), ResultKind::Nothing),
        Stmt::Rollback => ("ROLLBACK".to_string(), ResultKind::Nothing),
        Stmt::Select {
            table,
            filter,
            for_update,
        } => (
            format!(
                "SELECT * FROM {}{}{}",
                ident(table),
                filter_sql(filter, &mut params),
                if *for_update { " FOR UPDATE" } else { "" }
            ),
            ResultKind::Select,
        ),
        Stmt::Insert {
            table,
            row,
            on_conflict,
        } => {
            let cols: Vec<String> = row.keys().map(|c| ident(c)).collect();
            let vals: Vec<String> = row.values().map(|v| params.push(v)).collect();
            let values = if row.is_empty() {
                " DEFAULT VALUES".to_string()
            } else {
                format!(" ({}) VALUES ({})", cols.join(", "), vals.join(", "))
            };
            let target = |t: &[String]| -> String {
                if t.is_empty() {
                    String::new()
                } else {
                    let cols: Vec<String> = t.iter().map(|c| ident(c)).collect();
                    format!(" ({})", cols.join(", "))
                }
            };
            let conflict = match on_conflict {
                OnConflict::Error => String::new(),
                OnConflict::DoNothing { target: t } => format!(" ON CONFLICT{} DO NOTHING", target(t)),
                OnConflict::DoUpdate { target: t, set } => {
                    let sets: Vec<String> = set
                        .iter()
                        .map(|(c, v)| match v {
                            SetValue::Value(v) => format!("{} = {}", ident(c), params.push(v)),
                            SetValue::Excluded(e) => format!("{} = EXCLUDED.{}", ident(c), ident(e)),
                        })
                        .collect();
                    format!(" ON CONFLICT{} DO UPDATE SET {}", target(t), sets.join(", "))
                }
            };
            (
                format!("INSERT INTO {}{values}{conflict} RETURNING *", ident(table)),
                ResultKind::Returning,
            )
        }
        Stmt::Update { table, filter, set } => {
            let sets: Vec<String> = set
                .iter()
                .map(|(c, v)| format!("{} = {}", ident(c), params.push(v)))
                .collect();
            let filter = filter_sql(filter, &mut params);
            (
                format!(
                    "UPDATE {} SET {}{filter} RETURNING *",
                    ident(table),
                    sets.join(", ")
                ),
                ResultKind::Returning,
            )
        }
        Stmt::Delete { table, filter } => (
            format!(
                "DELETE FROM {}{} RETURNING *",
                ident(table),
                filter_sql(filter, &mut params)
            ),
            ResultKind::Returning,
        ),
        Stmt::AdvisoryLock { key, scope } => {
            let p = params.push(&Value::Int(*key));
            (
                format!("SELECT {}({p}::bigint)", lock_fn(*scope, false)),
                ResultKind::Nothing,
            )
        }
        Stmt::TryAdvisoryLock { key, scope } => {
            let p = params.push(&Value::Int(*key));
            (
                format!("SELECT {}({p}::bigint) AS locked", lock_fn(*scope, true)),
                ResultKind::Locked,
            )
        }
        Stmt::AdvisoryUnlock { key } => {
            let p = params.push(&Value::Int(*key));
            (
                format!("SELECT pg_advisory_unlock({p}::bigint) AS locked"),
                ResultKind::Locked,
            )
        }
    };
    Rendered {
        sql,
        params: params.0,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_parameters_not_literals() {
        let stmt = Stmt::update("tenants", &[("stripe_customer_id", "cus_'x".into())])
            .eq("id", 1)
            .is_null("stripe_customer_id");
        let r = render(&stmt);
        assert_eq!(
            r.sql,
            "UPDATE \"tenants\" SET \"stripe_customer_id\" = $1 WHERE \"id\" = $2 AND \"stripe_customer_id\" IS NULL RETURNING *"
        );
        assert_eq!(r.params, vec![Value::from("cus_'x"), Value::Int(1)]);
        assert_eq!(r.kind, ResultKind::Returning);
    }

    #[test]
    fn insert_on_conflict_renders_target_and_excluded() {
        let stmt = Stmt::insert("s", &[("id", "a".into()), ("status", "x".into())])
            .on_conflict_update_excluded(&["id"], &["status"]);
        assert_eq!(
            render(&stmt).sql,
            "INSERT INTO \"s\" (\"id\", \"status\") VALUES ($1, $2) ON CONFLICT (\"id\") DO UPDATE SET \"status\" = EXCLUDED.\"status\" RETURNING *"
        );
        let any = Stmt::insert("s", &[("id", "a".into())]).on_conflict_do_nothing(&[]);
        assert!(render(&any).sql.ends_with("ON CONFLICT DO NOTHING RETURNING *"));
    }

    #[test]
    fn ddl_names_constraints_like_postgres() {
        let schema = TableSchema::new("team_orgs")
            .column("user_id", ColumnType::Text)
            .column("slug", ColumnType::Text)
            .nullable("n", ColumnType::Int)
            .primary_key(&["user_id"])
            .unique(&["slug"]);
        let ddl = create_table_sql(&schema);
        assert!(
            ddl.contains("CONSTRAINT \"team_orgs_pkey\" PRIMARY KEY (\"user_id\")"),
            "{ddl}"
        );
        assert!(
            ddl.contains("CONSTRAINT \"team_orgs_slug_key\" UNIQUE (\"slug\")"),
            "{ddl}"
        );
        assert!(
            ddl.contains("\"n\" bigint,") || ddl.contains("\"n\" bigint\n"),
            "{ddl}"
        );
    }
}
