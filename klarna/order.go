// Package klarna is a client of the Kustom (formerly Klarna) Checkout API v3.
// It reads, creates and updates checkout orders. It does not import the rest
// of this module and can be used on its own.
package klarna

import "time"

// Order statuses as the live API returns them (lower case).
const (
	StatusCheckoutIncomplete = "checkout_incomplete"
	StatusCheckoutComplete   = "checkout_complete"
)

// Order is a KCO v3 checkout order. Amounts are integer minor units.
type Order struct {
	OrderID                string            `json:"order_id,omitempty"`
	Name                   string            `json:"name,omitempty"`
	PurchaseCountry        string            `json:"purchase_country"`
	PurchaseCurrency       string            `json:"purchase_currency"`
	Locale                 string            `json:"locale"`
	Status                 string            `json:"status,omitempty"`
	BillingAddress         *Address          `json:"billing_address,omitempty"`
	ShippingAddress        *Address          `json:"shipping_address,omitempty"`
	OrderAmount            int64             `json:"order_amount"`
	OrderTaxAmount         int64             `json:"order_tax_amount"`
	OrderLines             []OrderLine       `json:"order_lines"`
	Customer               *Customer         `json:"customer,omitempty"`
	MerchantURLs           *MerchantURLs     `json:"merchant_urls,omitempty"`
	HTMLSnippet            string            `json:"html_snippet,omitempty"`
	MerchantReference1     string            `json:"merchant_reference1,omitempty"`
	MerchantReference2     string            `json:"merchant_reference2,omitempty"`
	MerchantData           string            `json:"merchant_data,omitempty"`
	StartedAt              *time.Time        `json:"started_at,omitempty"`
	CompletedAt            *time.Time        `json:"completed_at,omitempty"`
	LastModifiedAt         *time.Time        `json:"last_modified_at,omitempty"`
	ExternalPaymentMethods []PaymentProvider `json:"external_payment_methods,omitempty"`
	ExternalCheckouts      []PaymentProvider `json:"external_checkouts,omitempty"`
}

// OrderLine is one line of an order. TotalAmount = Quantity×UnitPrice −
// TotalDiscountAmount; TaxRate has two implicit decimals (2500 = 25 %).
type OrderLine struct {
	Type                string `json:"type,omitempty"`
	Reference           string `json:"reference,omitempty"`
	Name                string `json:"name"`
	Quantity            int64  `json:"quantity"`
	QuantityUnit        string `json:"quantity_unit,omitempty"`
	UnitPrice           int64  `json:"unit_price"`
	TaxRate             int64  `json:"tax_rate"`
	TotalAmount         int64  `json:"total_amount"`
	TotalDiscountAmount int64  `json:"total_discount_amount"`
	TotalTaxAmount      int64  `json:"total_tax_amount"`
	MerchantData        string `json:"merchant_data,omitempty"`
	ProductURL          string `json:"product_url,omitempty"`
	ImageURL            string `json:"image_url,omitempty"`
}

// Order line types.
const (
	LineTypePhysical    = "physical"
	LineTypeDiscount    = "discount"
	LineTypeShippingFee = "shipping_fee"
	LineTypeSalesTax    = "sales_tax"
	LineTypeDigital     = "digital"
	LineTypeGiftCard    = "gift_card"
	LineTypeStoreCredit = "store_credit"
	LineTypeSurcharge   = "surcharge"
)

// Address is a billing or shipping address.
type Address struct {
	OrganizationName string `json:"organization_name,omitempty"`
	GivenName        string `json:"given_name,omitempty"`
	FamilyName       string `json:"family_name,omitempty"`
	Email            string `json:"email,omitempty"`
	Title            string `json:"title,omitempty"`
	StreetAddress    string `json:"street_address,omitempty"`
	StreetAddress2   string `json:"street_address2,omitempty"`
	PostalCode       string `json:"postal_code,omitempty"`
	City             string `json:"city,omitempty"`
	Region           string `json:"region,omitempty"`
	Phone            string `json:"phone,omitempty"`
	Country          string `json:"country,omitempty"`
	CareOf           string `json:"care_of,omitempty"`
}

// Customer describes the buyer.
type Customer struct {
	Type                       string `json:"type,omitempty"`
	DateOfBirth                string `json:"date_of_birth,omitempty"`
	OrganizationRegistrationID string `json:"organization_registration_id,omitempty"`
}

// MerchantURLs are the merchant's pages and callbacks. {checkout.order.id}
// in them is replaced by Kustom.
type MerchantURLs struct {
	Terms        string `json:"terms"`
	Checkout     string `json:"checkout"`
	Confirmation string `json:"confirmation"`
	Push         string `json:"push"`
	Validation   string `json:"validation,omitempty"`
	Notification string `json:"notification,omitempty"`
}

// PaymentProvider is an entry of external_payment_methods or
// external_checkouts. Fee is in minor units including tax.
type PaymentProvider struct {
	Name        string   `json:"name"`
	RedirectURL string   `json:"redirect_url"`
	ImageURL    string   `json:"image_url,omitempty"`
	Fee         *int64   `json:"fee,omitempty"`
	Description string   `json:"description,omitempty"`
	Countries   []string `json:"countries,omitempty"`
	Label       string   `json:"label,omitempty"`
}
