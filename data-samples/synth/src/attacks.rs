//! Credential attacks (`failed_login_spike`): the attempts of each class, planned
//! up front so the truth file can state exactly who tried what.
//!
//! | class | Vercel (`keys.source = "vercel"`) | PostgreSQL (`keys.source = "postgres"`) |
//! |---|---|---|
//! | `brute_force` | one hosting IP, one real account, 8–20 tries/min with a script (401); sometimes the last try succeeds | one IP, role `postgres` |
//! | `credential_stuffing` | one hosting IP, a new e-mail each try (mostly unknown accounts), 10–30/min (401); one or two succeed | one IP, a list of common role names |
//! | `distributed` | 100–400 residential IPs, one real account, 1–3 browser tries each (302 to the error page) | 100–300 IPs, role `postgres` |

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::catalog::{self, random_ip, ATTACK_UAS, HOSTING_NETS, USER_NETS};
use crate::incidents::{AttackClass, Attempt, Channel, Spec};
use crate::rng::Prng;
use crate::traffic::{Users, MINUTE_MS};

/// Role names a PostgreSQL credential-stuffing run walks through.
static ROLE_LIST: &[&str] = &[
    "postgres",
    "admin",
    "root",
    "user",
    "test",
    "oracle",
    "pgsql",
    "ubuntu",
    "guest",
    "dbadmin",
    "administrator",
    "sa",
    "backup",
    "odoo",
    "gitlab",
    "replicator",
    "app",
    "web",
    "demo",
    "support",
    "mysql",
    "ftpuser",
    "postgresql",
    "dev",
    "readonly",
];

/// Roles that exist on the simulated server.
fn role_exists(role: &str) -> bool {
    matches!(role, "postgres" | "app" | "analyst" | "backup")
}

/// Attempt times: the first right at `start`, the rest spread over the window.
fn times(rng: &mut Prng, start: i64, end: i64, n: usize) -> Vec<i64> {
    let mut t: Vec<i64> = (0..n)
        .map(|i| {
            if i == 0 {
                start + rng.below(1000) as i64
            } else {
                start + rng.below((end - start).max(1) as u64) as i64
            }
        })
        .collect();
    t.sort_unstable();
    t
}

fn leaked_email(rng: &mut Prng) -> String {
    catalog::email(rng.u64(), 10_000 + rng.below(900_000))
}

/// Plans the attempts of one attack.
pub fn attack(
    rng: &mut Prng,
    class: AttackClass,
    channel: Channel,
    start: i64,
    end: i64,
    users: &Users,
) -> Spec {
    let minutes = ((end - start) / MINUTE_MS).max(1) as f64;
    let script = *rng.pick(ATTACK_UAS);
    let target = rng.zipf(users.initial, 0.5);
    let mut attempts = Vec::new();
    match (class, channel) {
        (AttackClass::BruteForce, _) => {
            let ip = random_ip(rng, HOSTING_NETS);
            let n = ((minutes * rng.uniform(8.0, 20.0)) as usize).max(10);
            let user = match channel {
                Channel::Vercel => users.email(target),
                Channel::Postgres => "postgres".to_string(),
            };
            let takeover = channel == Channel::Vercel && rng.chance(0.4);
            for (i, ms) in times(rng, start, end, n).into_iter().enumerate() {
                attempts.push(Attempt {
                    ms,
                    ip,
                    user: user.clone(),
                    success: takeover && i + 1 == n,
                    role_exists: true,
                    user_agent: script,
                });
            }
        }
        (AttackClass::CredentialStuffing, _) => {
            let ip = random_ip(rng, HOSTING_NETS);
            let n = ((minutes * rng.uniform(10.0, 30.0)) as usize).max(10);
            let winners: BTreeSet<usize> = (0..1 + rng.below(2)).map(|_| rng.index(n)).collect();
            for (i, ms) in times(rng, start, end, n).into_iter().enumerate() {
                let (user, exists) = match channel {
                    Channel::Vercel if winners.contains(&i) || rng.chance(0.04) => {
                        (users.email(rng.zipf(users.initial, 0.3)), true)
                    }
                    Channel::Vercel => (leaked_email(rng), false),
                    Channel::Postgres => {
                        let role = ROLE_LIST[i % ROLE_LIST.len()];
                        (role.to_string(), role_exists(role))
                    }
                };
                attempts.push(Attempt {
                    ms,
                    ip,
                    user,
                    success: channel == Channel::Vercel && winners.contains(&i),
                    role_exists: exists,
                    user_agent: script,
                });
            }
        }
        (AttackClass::Distributed, _) => {
            let n_ips = match channel {
                Channel::Vercel => rng.range(100, 400),
                Channel::Postgres => rng.range(100, 300),
            } as usize;
            let ips: Vec<u32> = (0..n_ips).map(|_| random_ip(rng, USER_NETS)).collect();
            let per_ip: Vec<usize> = (0..n_ips).map(|_| 1 + rng.index(3)).collect();
            let n: usize = per_ip.iter().sum();
            let mut owners: Vec<usize> = per_ip
                .iter()
                .enumerate()
                .flat_map(|(ip, &k)| std::iter::repeat_n(ip, k))
                .collect();
            for i in (1..owners.len()).rev() {
                owners.swap(i, rng.index(i + 1));
            }
            let user = match channel {
                Channel::Vercel => users.email(target),
                Channel::Postgres => "postgres".to_string(),
            };
            for (i, ms) in times(rng, start, end, n).into_iter().enumerate() {
                attempts.push(Attempt {
                    ms,
                    ip: ips[owners[i]],
                    user: user.clone(),
                    success: false,
                    role_exists: true,
                    user_agent: rng.weighted::<&str>(catalog::BROWSER_UAS),
                });
            }
        }
    }
    Spec::Login {
        class,
        channel,
        attempts,
    }
}

/// The truth keys and details of an attack.
pub fn truth_keys(
    class: AttackClass,
    channel: Channel,
    attempts: &[Attempt],
    keys: &mut BTreeMap<String, Value>,
    details: &mut BTreeMap<String, Value>,
) {
    let ips: BTreeSet<u32> = attempts.iter().map(|a| a.ip).collect();
    let users: BTreeSet<&str> = attempts.iter().map(|a| a.user.as_str()).collect();
    let failures = attempts.iter().filter(|a| !a.success).count();
    keys.insert("class".into(), json!(class));
    keys.insert("source".into(), json!(channel));
    if class != AttackClass::Distributed {
        keys.insert("ip".into(), json!(crate::text::ip(attempts[0].ip)));
    }
    if class != AttackClass::CredentialStuffing {
        keys.insert("user".into(), json!(attempts[0].user));
    }
    match channel {
        Channel::Vercel => keys.insert("route".into(), json!(catalog::CREDENTIALS_ROUTE)),
        Channel::Postgres => keys.insert("database".into(), json!("postgres")),
    };
    details.insert("failed_logins".into(), json!(failures));
    details.insert("successful_logins".into(), json!(attempts.len() - failures));
    details.insert("distinct_ips".into(), json!(ips.len()));
    details.insert("distinct_users".into(), json!(users.len()));
}
