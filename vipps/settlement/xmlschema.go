package settlement

// The structure of SettlementReport-3.0.xsd, checked while streaming: each
// complex element is an xs:sequence of children with their occurrence bounds.
// Leaves carry text only. Element names are unique in the schema except for
// SettlementCurrencyCode, which the parser tells apart by its parent.

// NamespaceV3 is the target namespace of SettlementReport-3.0.xsd.
const NamespaceV3 = "http://vipps.no/xmlschema/SettlementReport-3.0.xsd"

// namespaceV2 is the target namespace of SettlementReport-2.0.xsd (the DNB
// era format), recognised only to refuse it with a clear message.
const namespaceV2 = "http://vipps.dnb.no/XMLSchema/SettlementReport.xsd"

const unbounded = -1

type xmlElement struct {
	name     string
	children []xmlChild // nil for a leaf
}

type xmlChild struct {
	elem     *xmlElement
	min, max int
}

func leaf(name string) *xmlElement { return &xmlElement{name: name} }

func one(e *xmlElement) xmlChild      { return xmlChild{e, 1, 1} }
func optional(e *xmlElement) xmlChild { return xmlChild{e, 0, 1} }
func many(e *xmlElement, min int) xmlChild {
	return xmlChild{e, min, unbounded}
}

func sequence(name string, children ...xmlChild) *xmlElement {
	return &xmlElement{name: name, children: children}
}

var xmlSchemaV3 = sequence("SettlementReport",
	many(sequence("SettlementDetailsInfo",
		one(leaf("SaleUnitName")),
		one(leaf("SerialNumber")),
		one(leaf("OrganizationName")),
		one(leaf("OrganizationNumber")),
		one(leaf("MainAddress")),
		one(leaf("MainAddressZipCode")),
		one(leaf("MainAddressCity")),
		one(leaf("MainAddressCountryCode")),
		one(sequence("PaymentsInfo",
			one(leaf("ReportDateFrom")),
			one(leaf("ReportDateTo")),
			one(leaf("SettlementCurrencyCode")),
			optional(leaf("ReportReferenceNum")),
			one(leaf("SettlementAccountNum")),
			many(sequence("SettlementInfo",
				one(leaf("SettlementDate")),
				one(leaf("SettlementID")),
				one(leaf("SettlementCurrencyCode")),
				one(leaf("SettlementType")),
				many(sequence("TransactionInfo",
					one(leaf("TransactionTime")),
					one(leaf("TransactionCaptureAmount")),
					one(leaf("TransactionRefundAmount")),
					one(leaf("TransactionGrossAmount")),
					one(leaf("TransactionNetAmount")),
					one(leaf("TransactionFeeAmount")),
					one(leaf("SettlementCurrencyCode")),
					one(leaf("TransactionID")),
					one(leaf("OrderID")),
				), 1),
				one(leaf("NumOfTransactions")),
				one(leaf("CaptureSettlementAmount")),
				one(leaf("RefundSettlementAmount")),
				one(leaf("GrossSettlementAmount")),
				one(leaf("NetSettlementAmount")),
				one(leaf("FeeSettlementAmount")),
				one(leaf("SettledAmount")),
			), 1),
			one(leaf("NumOfSettlements")),
			optional(sequence("FeeDetailsInfo",
				many(sequence("FeeInfo",
					one(leaf("FeeDate")),
					one(leaf("FeeID")),
					one(leaf("FeeAmount")),
					one(leaf("FeeAccount")),
					one(leaf("FeeType")),
				), 0),
			)),
		)),
	), 1),
	one(sequence("VippsInfo",
		one(leaf("Name")),
		one(leaf("WebSite")),
		one(leaf("VisitingAddress")),
		one(leaf("PostBox")),
		one(leaf("PostAddress")),
		one(leaf("Country")),
	)),
)
