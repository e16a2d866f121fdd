/* events.js: a contract's audit log in words a person reads.
 *   describeLog(events) -> [{event, when, text}] in log order; it follows the log to know each
 *   assignment's staffer and current rates, so a raise reads "pay 30.00 → 32.00". */
import { money, pct } from "./format.js";
import { nameOf } from "./people.js";

const ENDED = {
  completed: "completed",
  ended_early_by_client: "ended early by the client",
  staffer_left: "the staffer left",
  converted_to_client_hire: "converted to a client hire",
  moved_to_other_agency: "moved to another agency",
};
const THREAT = {
  threatened_move_to_other_agency: "threatened move to another agency",
  direct_hire_attempt: "direct-hire attempt",
  payrolling_through_other_agency: "payrolling through another agency",
  other: "other",
};
// Every term an amendment may change, as "label old → new" (issue #21: an amended client name
// read "no pricing term").
const TERMS = [
  ["client_name", "client name", String],
  ["start_date", "start date", String],
  ["markup_floor_pct", "markup floor", pct],
  ["burden_pct", "burden", pct],
  ["msp_fee_pct", "MSP fee", pct],
  ["min_assignment_weeks", "commitment (weeks)", String],
  ["conversion_fee_pct", "conversion fee", pct],
  ["conversion_fee_waived_after_hours", "fee waived after (hours)", String],
  ["non_solicit_months", "non-solicit (months)", String],
  ["end_date", "end date", String],
];

export function describeLog(events) {
  const staff = {}; // assignment_id -> {name, pay, bill}
  const raises = {}; // raise_request_id -> assignment_id
  const negotiations = {}; // negotiation_id -> assignment_id | null
  const terms = {}; // the contract's terms as the log has them so far
  const who = (aid) => (aid && staff[aid] ? `${staff[aid].name} (${aid})` : aid || "every active assignment");
  const by = (x) => (x === "client" ? "the client" : x === "agency" ? "the agency" : `the ${x}`);
  const out = [];
  for (const e of events) {
    let t;
    switch (e.type) {
      case "ContractSigned":
        for (const [k] of TERMS) terms[k] = e[k];
        t = `Contract signed with ${e.client_name}, managed by ${nameOf(e.account_manager_id)}, from ${e.start_date}` +
          `${e.end_date ? ` to ${e.end_date}` : ""}: markup floor ${pct(e.markup_floor_pct)}, burden ${pct(e.burden_pct)}` +
          `${e.msp_fee_pct ? `, MSP fee ${pct(e.msp_fee_pct)}` : ""}` +
          `${e.min_assignment_weeks ? `, ${e.min_assignment_weeks}-week commitment` : ""}.`;
        break;
      case "ContractAmended": {
        const was = (k, f) => (terms[k] === undefined || terms[k] === null ? "none" : f(terms[k]));
        const changed = TERMS.filter(([k]) => e[k] !== undefined && e[k] !== null)
          .map(([k, label, f]) => `${label} ${was(k, f)} → ${f(e[k])}`);
        for (const [k] of TERMS) if (e[k] !== undefined && e[k] !== null) terms[k] = e[k];
        t = `Contract amended from ${e.effective_date}: ${changed.join(", ")}.`;
        break;
      }
      case "AccountManagerChanged":
        t = `Contract handed over to ${nameOf(e.account_manager_id)} from ${e.effective_date}: ${e.reason}.`;
        break;
      case "ContractTerminated":
        t = `Contract terminated from ${e.effective_date}: ${e.reason}.`;
        break;
      case "AssignmentStarted":
        staff[e.assignment_id] = { name: e.staffer_name || e.staffer_id, pay: e.pay_rate, bill: e.bill_rate };
        t = `${who(e.assignment_id)} started as ${e.job_title}: pay ${money(e.pay_rate)}, bill ${money(e.bill_rate)}, ` +
          `${e.hours_per_week} h a week, ${e.start_date} to ${e.expected_end_date}.`;
        break;
      case "RatesAdjusted": {
        const s = staff[e.assignment_id] || {};
        t = `Rates of ${who(e.assignment_id)} adjusted from ${e.effective_date}: pay ${money(s.pay)} → ${money(e.pay_rate)}, ` +
          `bill ${money(s.bill)} → ${money(e.bill_rate)} (${e.reason}).`;
        if (staff[e.assignment_id]) Object.assign(staff[e.assignment_id], { pay: e.pay_rate, bill: e.bill_rate });
        break;
      }
      case "AssignmentEnded":
        t = `${who(e.assignment_id)} ended on ${e.end_date}: ${ENDED[e.reason] || e.reason}.`;
        break;
      case "MarkupNegotiationOpened":
        negotiations[e.negotiation_id] = e.assignment_id || null;
        t = `Markup negotiation ${e.negotiation_id} opened by ${by(e.initiated_by)} for ${who(e.assignment_id)}: ${e.reason}.`;
        break;
      case "MarkupProposed":
        t = `${by(e.proposed_by)[0].toUpperCase()}${by(e.proposed_by).slice(1)} proposed a markup of ${pct(e.markup_pct)} ` +
          `(negotiation ${e.negotiation_id})${e.note ? `: ${e.note}` : "."}`;
        break;
      case "MarkupAgreed":
        t = `Markup of ${pct(e.markup_pct)} agreed from ${e.effective_date} (negotiation ${e.negotiation_id}, ` +
          `${who(negotiations[e.negotiation_id])}).`;
        break;
      case "MarkupNegotiationClosed":
        t = `Negotiation ${e.negotiation_id} closed: ${e.outcome}${e.note ? ` (${e.note})` : ""}.`;
        break;
      case "RaiseRequested": {
        raises[e.raise_request_id] = e.assignment_id;
        const s = staff[e.assignment_id] || {};
        t = `Raise requested for ${who(e.assignment_id)} by ${by(e.requested_by)}: pay ${money(s.pay)} → ${money(e.requested_pay_rate)}` +
          `${e.client_max_bill_rate ? `, client's budget ${money(e.client_max_bill_rate)}` : ""}.`;
        break;
      }
      case "RaiseApproved": {
        const aid = raises[e.raise_request_id];
        const s = staff[aid] || {};
        t = `Raise ${e.raise_request_id} for ${who(aid)} approved from ${e.effective_date}: pay ${money(s.pay)} → ${money(e.new_pay_rate)}, ` +
          `bill ${money(s.bill)} → ${money(e.new_bill_rate)}.`;
        if (staff[aid]) Object.assign(staff[aid], { pay: e.new_pay_rate, bill: e.new_bill_rate });
        break;
      }
      case "RaiseDeclined":
        t = `Raise ${e.raise_request_id} for ${who(raises[e.raise_request_id])} declined: ${e.reason}.`;
        break;
      case "BypassThreatReported":
        t = `Bypass threat (${THREAT[e.kind] || e.kind}) concerning ${e.assignment_id ? who(e.assignment_id) : e.staffer_id || "the contract"}: ${e.description}`;
        break;
      case "ClientComplaintLogged":
        t = `Client complaint about ${e.about.replace(/_/g, " ")}${e.legal_threat ? ", with a legal threat" : ""}: ${e.description}`;
        break;
      case "ClientContactLogged":
        t = `${e.direction === "outbound" ? "Outbound" : "Inbound"} ${e.channel} ${e.direction === "outbound" ? "to" : "from"} the client, ` +
          `${e.responded ? "answered" : "no response"}${e.note ? `: ${e.note}` : "."}`;
        break;
      default:
        t = `${e.type}.`;
    }
    out.push({ event: e, when: e.occurred_at, text: t });
  }
  return out;
}
