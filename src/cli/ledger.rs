//! `creditline ledger ...`: money by hand (finance's desk) and the ledger's proof of itself.

use std::process::ExitCode;

use clap::Subcommand;

use crate::app::App;
use crate::config::Config;
use crate::domain::{EmailAddress, Money};
use crate::services::ledger::{self, Ledger, LedgerError};
use crate::services::payments::{self, PaymentError};

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check every account: stored balances equal the sums of their entries, nothing below zero,
    /// no line over its limit. Exit status 1 names each mismatch.
    Verify,
    /// An account's balances and what it could spend now.
    Balance {
        account: EmailAddress,
        #[arg(long)]
        json: bool,
    },
    /// An account's entries, oldest first, as JSON lines.
    Entries { account: EmailAddress },
    /// Record a prepaid top-up (once per provider transaction id).
    TopUp {
        account: EmailAddress,
        /// e.g. 50, $1,000.50
        #[arg(long)]
        amount: Money,
        /// stripe, paypal, wechat_pay, alipay, naver_pay, bank ...
        #[arg(long)]
        provider: String,
        #[arg(long)]
        txn: String,
    },
    /// Record a deposit held as a guarantee (never spent on usage).
    Deposit {
        account: EmailAddress,
        #[arg(long)]
        amount: Money,
        #[arg(long)]
        provider: String,
        #[arg(long)]
        reference: String,
    },
    /// Release (part of) a held deposit into prepaid credits: refused while a bill is unpaid
    /// or a line of the deposit tier relies on it.
    Release {
        account: EmailAddress,
        #[arg(long)]
        amount: Money,
        #[arg(long)]
        reason: String,
        /// Makes a repeated command harmless.
        #[arg(long)]
        key: String,
    },
    /// Hold prepaid credit the account already bought as its guarantee, at its request
    /// (prepaid -> deposit, with the reason).
    HoldPrepaid {
        account: EmailAddress,
        #[arg(long)]
        amount: Money,
        #[arg(long)]
        reason: String,
        /// Makes a repeated command harmless.
        #[arg(long)]
        key: String,
    },
    /// Once the account's line is closed unpaid: apply the held deposit to the unpaid bills it
    /// guarantees (oldest first) and release the rest into prepaid credits.
    ApplyDeposit {
        account: EmailAddress,
        #[arg(long, default_value = "the credit line closed with bills unpaid")]
        reason: String,
        /// Makes a repeated command harmless.
        #[arg(long)]
        key: String,
    },
    /// Correct prepaid credits by hand (negative amounts with a leading '-').
    Adjust {
        account: EmailAddress,
        #[arg(long, allow_hyphen_values = true)]
        cents: i64,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        key: String,
    },
    /// Create a coupon code.
    CouponCreate {
        code: String,
        #[arg(long)]
        credit: Money,
        #[arg(long)]
        max_redemptions: i64,
        /// RFC 3339, e.g. 2027-01-31T23:59:59Z
        #[arg(long)]
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// Redeem a coupon for an account (once per account).
    Redeem { account: EmailAddress, code: String },
    /// Record a payment of bills (once per provider transaction id): oldest bills first, any
    /// rest as prepaid credit; a gated line is restored once nothing is owed.
    Pay {
        account: EmailAddress,
        #[arg(long)]
        amount: Money,
        #[arg(long)]
        provider: String,
        #[arg(long)]
        txn: String,
    },
    /// Announce a bill payment on its way (a bank transfer): pending, it credits nothing until
    /// `pending-confirm`; `cycle_gating` sees it when it covers the unpaid bill.
    Pending {
        account: EmailAddress,
        #[arg(long)]
        amount: Money,
        /// The transfer's reference, unique per provider.
        #[arg(long)]
        reference: String,
        #[arg(long, default_value = "bank")]
        provider: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// The announced payment arrived: record it as a payment (as `ledger pay` does).
    PendingConfirm {
        reference: String,
        #[arg(long, default_value = "bank")]
        provider: String,
        /// What arrived, when it differs from what was announced.
        #[arg(long)]
        amount: Option<Money>,
    },
    /// The announced payment will not arrive.
    PendingDrop {
        reference: String,
        #[arg(long, default_value = "bank")]
        provider: String,
        #[arg(long)]
        reason: String,
    },
    /// Record a failed payment (once per provider reference); drops a pending payment of the
    /// same reference.
    PaymentFailed {
        account: EmailAddress,
        #[arg(long)]
        reference: String,
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "bank")]
        provider: String,
        #[arg(long)]
        amount: Option<Money>,
    },
    /// Record a chargeback (a disputed payment; once per provider reference). It is kept
    /// beside the ledger and moves no money.
    Chargeback {
        account: EmailAddress,
        #[arg(long)]
        amount: Money,
        #[arg(long)]
        reference: String,
        #[arg(long, default_value = "bank")]
        provider: String,
        #[arg(long, default_value = "chargeback reported by finance")]
        reason: String,
    },
    /// An account's pending payments, failed payments and chargebacks, oldest first, as JSON
    /// lines.
    Payments { account: EmailAddress },
    /// Record usage: prepaid credits first, then this month's credit line.
    Debit {
        account: EmailAddress,
        #[arg(long)]
        amount: Money,
        /// The caller's idempotency key: the same key again changes nothing.
        #[arg(long)]
        key: String,
    },
}

impl LedgerCommand {
    pub async fn run(self, config: Config) -> anyhow::Result<ExitCode> {
        let app = App::build(config, true).await?;
        let l = Ledger::new(&app);
        let actor = "admin:cli";
        let result = match self {
            LedgerCommand::Verify => {
                let found = l.audit().await?;
                for p in &found.problems {
                    println!("{p}");
                }
                eprintln!(
                    "ledger verify: {} accounts, {} line-months, {} problems",
                    found.accounts,
                    found.line_months,
                    found.problems.len()
                );
                return Ok(if found.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
            }
            LedgerCommand::Balance { account, json } => {
                let b = l.balances(&account).await?;
                let figures = match l.available(&account).await {
                    Ok((prepaid, credit)) => {
                        ledger::sum(prepaid, credit).map(|s| (prepaid, credit, s)).map_err(Into::into)
                    }
                    Err(e) => Err(e),
                };
                let (prepaid, credit, spendable) = match figures {
                    Ok(f) => f,
                    Err(e @ LedgerError::Debit(_)) => {
                        eprintln!("error: {account}: {e}");
                        return Ok(ExitCode::from(2));
                    }
                    Err(e) => return Err(e.into()),
                };
                let standing =
                    crate::services::billing::standing(&app, account.as_str(), app.workflow.clock().now()).await?;
                let v = serde_json::json!({
                    "account": account,
                    "prepaid_cents": b.prepaid_cents,
                    "deposit_held_cents": b.deposit_cents,
                    "credit_available_cents": credit.cents(),
                    "spendable_cents": spendable.cents(),
                    "pending_bill_payments_cents": standing.pending_bill_cents,
                    "failed_payments_6m": standing.failed_payments_6m,
                    "chargebacks": standing.chargebacks,
                });
                if json {
                    println!("{v}");
                } else {
                    println!(
                        "{account}: prepaid {}, deposit held {}, credit available {}",
                        prepaid,
                        Money::from_cents(b.deposit_cents),
                        credit
                    );
                    if standing != crate::services::billing::PaymentStanding::default() {
                        println!(
                            "  pending bill payments {}, failed payments in 6 months {}, chargebacks {}",
                            Money::from_cents(standing.pending_bill_cents),
                            standing.failed_payments_6m,
                            standing.chargebacks
                        );
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            LedgerCommand::Entries { account } => {
                for e in l.entries(&account).await? {
                    println!("{}", serde_json::to_string(&e)?);
                }
                return Ok(ExitCode::SUCCESS);
            }
            LedgerCommand::TopUp { account, amount, provider, txn } => {
                l.top_up(&account, amount, &provider, &txn).await.map(|p| serde_json::to_value(p).ok())
            }
            LedgerCommand::Deposit { account, amount, provider, reference } => {
                l.hold_deposit(&account, amount, &provider, &reference).await.map(|p| serde_json::to_value(p).ok())
            }
            LedgerCommand::Release { account, amount, reason, key } => {
                l.release_deposit(&account, amount, actor, &reason, &key).await.map(|p| serde_json::to_value(p).ok())
            }
            LedgerCommand::HoldPrepaid { account, amount, reason, key } => {
                l.hold_prepaid(&account, amount, actor, &reason, &key).await.map(|p| serde_json::to_value(p).ok())
            }
            LedgerCommand::ApplyDeposit { account, reason, key } => {
                l.apply_deposit(&account, actor, &reason, &key).await.map(|a| serde_json::to_value(a).ok())
            }
            LedgerCommand::Adjust { account, cents, reason, key } => {
                l.adjust(&account, cents, actor, &reason, &key).await.map(|p| serde_json::to_value(p).ok())
            }
            LedgerCommand::CouponCreate { code, credit, max_redemptions, expires_at } => {
                l.create_coupon(&code, credit, max_redemptions, expires_at).await.map(|c| serde_json::to_value(c).ok())
            }
            LedgerCommand::Redeem { account, code } => {
                l.redeem(&account, &code).await.map(|p| serde_json::to_value(p).ok())
            }
            LedgerCommand::Pay { account, amount, provider, txn } => {
                match crate::services::billing::pay(&app, &account, amount, &provider, &txn).await {
                    Ok(p) => Ok(serde_json::to_value(p).ok()),
                    Err(crate::services::billing::CycleError::Invalid(m)) => Err(LedgerError::Invalid(m)),
                    Err(e) => return Err(e.into()),
                }
            }
            LedgerCommand::Pending { account, amount, reference, provider, note } => {
                let r = payments::announce(&app, &account, amount, &provider, &reference, note.as_deref(), actor).await;
                domain(r.map(|o| serde_json::to_value(o).ok()))?
            }
            LedgerCommand::PendingConfirm { reference, provider, amount } => domain(
                payments::confirm(&app, &provider, &reference, amount).await.map(|o| serde_json::to_value(o).ok()),
            )?,
            LedgerCommand::PendingDrop { reference, provider, reason } => {
                let r = payments::drop_pending(&app, &provider, &reference, &reason).await;
                domain(r.map(|o| serde_json::to_value(o).ok()))?
            }
            LedgerCommand::PaymentFailed { account, reference, reason, provider, amount } => {
                let r = payments::report_incident(
                    &app,
                    &account,
                    "failed_payment",
                    &provider,
                    &reference,
                    amount,
                    &reason,
                    actor,
                )
                .await;
                domain(r.map(|o| serde_json::to_value(o).ok()))?
            }
            LedgerCommand::Chargeback { account, amount, reference, provider, reason } => {
                let r = payments::report_incident(
                    &app,
                    &account,
                    "chargeback",
                    &provider,
                    &reference,
                    Some(amount),
                    &reason,
                    actor,
                )
                .await;
                domain(r.map(|o| serde_json::to_value(o).ok()))?
            }
            LedgerCommand::Payments { account } => {
                let (pending, incidents) = payments::of_account(&app, &account).await?;
                for p in pending {
                    println!("{}", serde_json::json!({ "record": "pending_payment", "payment": p }));
                }
                for i in incidents {
                    println!("{}", serde_json::json!({ "record": i.kind, "incident": i }));
                }
                return Ok(ExitCode::SUCCESS);
            }
            LedgerCommand::Debit { account, amount, key } => {
                l.debit(&account, amount, &key).await.map(|d| serde_json::to_value(d).ok())
            }
        };
        match result {
            Ok(v) => {
                println!("{}", v.unwrap_or_default());
                Ok(ExitCode::SUCCESS)
            }
            Err(
                e @ (LedgerError::Debit(_)
                | LedgerError::Bound(_)
                | LedgerError::Invalid(_)
                | LedgerError::Refused(_)
                | LedgerError::KeyReused(_)),
            ) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(2))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A payment command's refusal as the ledger commands report theirs (exit status 2).
fn domain(
    r: Result<Option<serde_json::Value>, PaymentError>,
) -> anyhow::Result<Result<Option<serde_json::Value>, LedgerError>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(PaymentError::Invalid(m)) => Ok(Err(LedgerError::Invalid(m))),
        Err(PaymentError::Other(e)) => Err(e),
    }
}
