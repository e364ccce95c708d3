//! The "Message Type" IE (TS 24.538 §7.1; Annex A.3 types on MSGin5G-5).

/// The "Message Type" IE (TS 24.538 §7.1); unknown values are kept as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// `REG` registration request.
    Reg,
    /// `DEREG` de-registration request.
    Dereg,
    /// `REGRESP` registration response (Rel-18).
    RegResp,
    /// `DEREGRESP` de-registration response (Rel-18).
    DeregResp,
    /// `BULKREG` bulk registration request (project profile).
    BulkReg,
    /// `BULKREGRESP` bulk registration response (project profile).
    BulkRegResp,
    /// `BULKDEREG` bulk de-registration request (project profile).
    BulkDereg,
    /// `BULKDEREGRESP` bulk de-registration response (project profile).
    BulkDeregResp,
    /// `BULKCONF` bulk configuration request (project profile, 23.554 §8.1.4).
    BulkConf,
    /// `BULKCONFRESP` bulk configuration response (project profile, 23.554 §8.1.4).
    BulkConfResp,
    /// `MSG` MSGin5G message.
    Msg,
    /// `MSGRESP` message response.
    MsgResp,
    /// `IMDN` delivery status report.
    Imdn,
    /// `SEGREC` segment recovery.
    SegRec,
    /// `SEGCONFIR` segments received confirmation.
    SegConfir,
    /// `TOPICSUB` messaging topic subscription (project profile, 23.554 §8.8.1).
    TopicSub,
    /// `TOPICSUBRESP` its answer (project profile).
    TopicSubResp,
    /// `TOPICUNSUB` messaging topic unsubscription (project profile, 23.554 §8.8).
    TopicUnsub,
    /// `TOPICUNSUBRESP` its answer (project profile).
    TopicUnsubResp,
    /// `AGGMSG` aggregated message (project profile).
    AggMsg,
    /// `AGGIMDN` aggregated delivery report (project profile).
    AggImdn,
    /// `REGISTRATION REQUEST` (Annex A.3, MSGin5G-5: AC -> gateway).
    RegistrationRequest,
    /// `REGISTRATION RESPONSE` (Annex A.3: gateway -> AC).
    RegistrationResponse,
    /// `DE-REGISTRATION REQUEST` (Annex A.3: AC -> gateway).
    DeregistrationRequest,
    /// `DE-REGISTRATION RESPONSE` (Annex A.3: gateway -> AC).
    DeregistrationResponse,
    /// `MESSAGE SENDING REQUEST` (Annex A.2.1.1 / A.3: AC -> gateway).
    MessageSendingRequest,
    /// `MESSAGE SENDING RESPONSE` (Annex A.3, project profile: gateway -> AC).
    MessageSendingResponse,
    /// `DELIVERY REPORT SENDING REQUEST` (Annex A.2.1.2 / A.3: AC -> gateway).
    DeliveryReportSendingRequest,
    /// `DELIVERY REPORT SENDING RESPONSE` (Annex A.3, project profile: gateway -> AC).
    DeliveryReportSendingResponse,
    /// `MESSAGE DELIVERY REQUEST` (Annex A.3, project profile: gateway -> AC).
    MessageDeliveryRequest,
    /// `MESSAGE RECEIVED RESPONSE` (Annex A 6.4.2.3.3: AC -> gateway).
    MessageReceivedResponse,
    /// `DELIVERY REPORT DELIVERY REQUEST` (Annex A.3, project profile: gateway -> AC).
    DeliveryReportDeliveryRequest,
    /// Any other value.
    Other(String),
}

impl MessageType {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            MessageType::Reg => "REG",
            MessageType::Dereg => "DEREG",
            MessageType::RegResp => "REGRESP",
            MessageType::DeregResp => "DEREGRESP",
            MessageType::BulkReg => "BULKREG",
            MessageType::BulkRegResp => "BULKREGRESP",
            MessageType::BulkDereg => "BULKDEREG",
            MessageType::BulkDeregResp => "BULKDEREGRESP",
            MessageType::BulkConf => "BULKCONF",
            MessageType::BulkConfResp => "BULKCONFRESP",
            MessageType::Msg => "MSG",
            MessageType::MsgResp => "MSGRESP",
            MessageType::Imdn => "IMDN",
            MessageType::SegRec => "SEGREC",
            MessageType::SegConfir => "SEGCONFIR",
            MessageType::TopicSub => "TOPICSUB",
            MessageType::TopicSubResp => "TOPICSUBRESP",
            MessageType::TopicUnsub => "TOPICUNSUB",
            MessageType::TopicUnsubResp => "TOPICUNSUBRESP",
            MessageType::AggMsg => "AGGMSG",
            MessageType::AggImdn => "AGGIMDN",
            MessageType::RegistrationRequest => "REGISTRATION REQUEST",
            MessageType::RegistrationResponse => "REGISTRATION RESPONSE",
            MessageType::DeregistrationRequest => "DE-REGISTRATION REQUEST",
            MessageType::DeregistrationResponse => "DE-REGISTRATION RESPONSE",
            MessageType::MessageSendingRequest => "MESSAGE SENDING REQUEST",
            MessageType::MessageSendingResponse => "MESSAGE SENDING RESPONSE",
            MessageType::DeliveryReportSendingRequest => "DELIVERY REPORT SENDING REQUEST",
            MessageType::DeliveryReportSendingResponse => "DELIVERY REPORT SENDING RESPONSE",
            MessageType::MessageDeliveryRequest => "MESSAGE DELIVERY REQUEST",
            MessageType::MessageReceivedResponse => "MESSAGE RECEIVED RESPONSE",
            MessageType::DeliveryReportDeliveryRequest => "DELIVERY REPORT DELIVERY REQUEST",
            MessageType::Other(s) => s,
        }
    }
    /// From the wire string (never fails: unknown values become `Other`).
    ///
    /// Known values match exactly or ASCII-case-insensitively (`"reg"` is `Reg`).
    pub fn parse(s: &str) -> MessageType {
        MessageType::parse_known(s).unwrap_or_else(|| MessageType::Other(s.to_owned()))
    }

    /// The known variant for `s` (exact or ASCII-case-insensitive), `None` for `Other` values;
    /// never allocates. `"DEREGISTRATION REQUEST"`/`"DEREGISTRATION RESPONSE"` (no hyphen) are
    /// accepted for the Annex A de-registration types.
    pub fn parse_known(s: &str) -> Option<MessageType> {
        if let Some(t) = MessageType::parse_exact(s) {
            return Some(t);
        }
        if s.len() > MAX_KNOWN_LEN || !s.bytes().any(|b| b.is_ascii_lowercase()) {
            return None;
        }
        let mut buf = [0u8; MAX_KNOWN_LEN];
        let up = &mut buf[..s.len()];
        up.copy_from_slice(s.as_bytes());
        up.make_ascii_uppercase();
        // Only ASCII bytes changed, so `up` is still valid UTF-8.
        std::str::from_utf8(up)
            .ok()
            .and_then(MessageType::parse_exact)
    }

    fn parse_exact(s: &str) -> Option<MessageType> {
        Some(match s {
            "REG" => MessageType::Reg,
            "DEREG" => MessageType::Dereg,
            "REGRESP" => MessageType::RegResp,
            "DEREGRESP" => MessageType::DeregResp,
            "BULKREG" => MessageType::BulkReg,
            "BULKREGRESP" => MessageType::BulkRegResp,
            "BULKDEREG" => MessageType::BulkDereg,
            "BULKDEREGRESP" => MessageType::BulkDeregResp,
            "BULKCONF" => MessageType::BulkConf,
            "BULKCONFRESP" => MessageType::BulkConfResp,
            "MSG" => MessageType::Msg,
            "MSGRESP" => MessageType::MsgResp,
            "IMDN" => MessageType::Imdn,
            "SEGREC" => MessageType::SegRec,
            "SEGCONFIR" => MessageType::SegConfir,
            "TOPICSUB" => MessageType::TopicSub,
            "TOPICSUBRESP" => MessageType::TopicSubResp,
            "TOPICUNSUB" => MessageType::TopicUnsub,
            "TOPICUNSUBRESP" => MessageType::TopicUnsubResp,
            "AGGMSG" => MessageType::AggMsg,
            "AGGIMDN" => MessageType::AggImdn,
            "REGISTRATION REQUEST" => MessageType::RegistrationRequest,
            "REGISTRATION RESPONSE" => MessageType::RegistrationResponse,
            "DE-REGISTRATION REQUEST" | "DEREGISTRATION REQUEST" => {
                MessageType::DeregistrationRequest
            }
            "DE-REGISTRATION RESPONSE" | "DEREGISTRATION RESPONSE" => {
                MessageType::DeregistrationResponse
            }
            "MESSAGE SENDING REQUEST" => MessageType::MessageSendingRequest,
            "MESSAGE SENDING RESPONSE" => MessageType::MessageSendingResponse,
            "DELIVERY REPORT SENDING REQUEST" => MessageType::DeliveryReportSendingRequest,
            "DELIVERY REPORT SENDING RESPONSE" => MessageType::DeliveryReportSendingResponse,
            "MESSAGE DELIVERY REQUEST" => MessageType::MessageDeliveryRequest,
            "MESSAGE RECEIVED RESPONSE" => MessageType::MessageReceivedResponse,
            "DELIVERY REPORT DELIVERY REQUEST" => MessageType::DeliveryReportDeliveryRequest,
            _ => return None,
        })
    }
}

/// Longest known Message Type string (`"DELIVERY REPORT DELIVERY REQUEST"`, 32 bytes).
const MAX_KNOWN_LEN: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_strings_round_trip() {
        let all = [
            MessageType::Reg,
            MessageType::Dereg,
            MessageType::RegResp,
            MessageType::DeregResp,
            MessageType::BulkReg,
            MessageType::BulkRegResp,
            MessageType::BulkDereg,
            MessageType::BulkDeregResp,
            MessageType::BulkConf,
            MessageType::BulkConfResp,
            MessageType::Msg,
            MessageType::MsgResp,
            MessageType::Imdn,
            MessageType::SegRec,
            MessageType::SegConfir,
            MessageType::TopicSub,
            MessageType::TopicSubResp,
            MessageType::TopicUnsub,
            MessageType::TopicUnsubResp,
            MessageType::AggMsg,
            MessageType::AggImdn,
            MessageType::RegistrationRequest,
            MessageType::RegistrationResponse,
            MessageType::DeregistrationRequest,
            MessageType::DeregistrationResponse,
            MessageType::MessageSendingRequest,
            MessageType::MessageSendingResponse,
            MessageType::DeliveryReportSendingRequest,
            MessageType::DeliveryReportSendingResponse,
            MessageType::MessageDeliveryRequest,
            MessageType::MessageReceivedResponse,
            MessageType::DeliveryReportDeliveryRequest,
        ];
        for t in all {
            assert!(t.as_str().len() <= MAX_KNOWN_LEN);
            assert_eq!(MessageType::parse(t.as_str()), t);
            assert_eq!(MessageType::parse_known(t.as_str()), Some(t.clone()));
            assert_eq!(
                MessageType::parse(&t.as_str().to_ascii_lowercase()),
                t,
                "case-insensitive"
            );
        }
        assert_eq!(MessageType::parse("FOO"), MessageType::Other("FOO".into()));
        assert_eq!(MessageType::Other("FOO".into()).as_str(), "FOO");
        assert_eq!(MessageType::parse_known("BULKREGRESPX"), None);
        assert_eq!(MessageType::parse_known("bulkderegrespxx"), None);
        assert_eq!(MessageType::parse_known(""), None);
        assert_eq!(MessageType::parse_known("régé"), None);
        // Annex A strings: exact, with spaces; case-folded up to 32 bytes.
        assert_eq!(
            MessageType::parse("Delivery Report Delivery Request"),
            MessageType::DeliveryReportDeliveryRequest
        );
        assert_eq!(
            MessageType::parse("deregistration response"),
            MessageType::DeregistrationResponse
        );
        assert_eq!(MessageType::parse_known("MESSAGE_SENDING_REQUEST"), None);
        assert_eq!(
            MessageType::parse_known("delivery report delivery requests"),
            None
        );
    }
}
