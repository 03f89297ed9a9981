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
	Options                *Options          `json:"options,omitempty"`
	Attachment             *Attachment       `json:"attachment,omitempty"`
	GUI                    *GUI              `json:"gui,omitempty"`
	BillingCountries       []string          `json:"billing_countries,omitempty"`
	ShippingCountries      []string          `json:"shipping_countries,omitempty"`
	ShippingOptions        []ShippingOption  `json:"shipping_options,omitempty"`
	SelectedShippingOption *ShippingOption   `json:"selected_shipping_option,omitempty"`
	Tags                   []string          `json:"tags,omitempty"`
	Recurring              bool              `json:"recurring,omitempty"`
	RecurringToken         string            `json:"recurring_token,omitempty"`
	RecurringDescription   string            `json:"recurring_description,omitempty"`

	// Location is the order's URL from the Location header of the create
	// response. Only CreateOrder sets it; it is not part of the JSON. Kustom
	// asks integrators to use it instead of building order URLs themselves.
	Location string `json:"-"`
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

	ProductIdentifiers *ProductIdentifiers `json:"product_identifiers,omitempty"`
}

// ProductIdentifiers identify the product of an order line.
type ProductIdentifiers struct {
	Brand                  string `json:"brand,omitempty"`
	Color                  string `json:"color,omitempty"`
	CategoryPath           string `json:"category_path,omitempty"`
	GlobalTradeItemNumber  string `json:"global_trade_item_number,omitempty"`
	ManufacturerPartNumber string `json:"manufacturer_part_number,omitempty"`
	Size                   string `json:"size,omitempty"`
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

	// StreetName, StreetNumber and HouseExtension are used instead of
	// StreetAddress in DE, AT and NL only.
	StreetName     string `json:"street_name,omitempty"`
	StreetNumber   string `json:"street_number,omitempty"`
	HouseExtension string `json:"house_extension,omitempty"`
	Reference      string `json:"reference,omitempty"`
	Attention      string `json:"attention,omitempty"`
}

// Customer describes the buyer.
type Customer struct {
	Type                       string `json:"type,omitempty"`
	DateOfBirth                string `json:"date_of_birth,omitempty"`
	OrganizationRegistrationID string `json:"organization_registration_id,omitempty"`
	Gender                     string `json:"gender,omitempty"`
	VATID                      string `json:"vat_id,omitempty"`
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

	CancellationTerms    string `json:"cancellation_terms,omitempty"`
	ShippingOptionUpdate string `json:"shipping_option_update,omitempty"`
	AddressUpdate        string `json:"address_update,omitempty"`
	CountryChange        string `json:"country_change,omitempty"`
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

// Options change how the checkout behaves and looks. Booleans are pointers
// because several of them default to true for some countries, so "not sent"
// and "false" differ.
type Options struct {
	AcquiringChannel                      string     `json:"acquiring_channel,omitempty"`
	AllowSeparateShippingAddress          *bool      `json:"allow_separate_shipping_address,omitempty"`
	AllowedCustomerTypes                  []string   `json:"allowed_customer_types,omitempty"`
	AdditionalCheckbox                    *Checkbox  `json:"additional_checkbox,omitempty"`
	AdditionalCheckboxes                  []Checkbox `json:"additional_checkboxes,omitempty"`
	AdditionalMerchantTerms               string     `json:"additional_merchant_terms,omitempty"`
	AutoCapture                           *bool      `json:"auto_capture,omitempty"`
	ColorButton                           string     `json:"color_button,omitempty"`
	ColorButtonText                       string     `json:"color_button_text,omitempty"`
	ColorCheckbox                         string     `json:"color_checkbox,omitempty"`
	ColorCheckboxCheckmark                string     `json:"color_checkbox_checkmark,omitempty"`
	ColorHeader                           string     `json:"color_header,omitempty"`
	ColorLink                             string     `json:"color_link,omitempty"`
	DateOfBirthMandatory                  *bool      `json:"date_of_birth_mandatory,omitempty"`
	EnableDiscountModule                  *bool      `json:"enable_discount_module,omitempty"`
	NationalIdentificationNumberMandatory *bool      `json:"national_identification_number_mandatory,omitempty"`
	PhoneMandatory                        *bool      `json:"phone_mandatory,omitempty"`
	RadiusBorder                          string     `json:"radius_border,omitempty"`
	RequireClientValidation               *bool      `json:"require_client_validation,omitempty"`
	RequireValidateCallbackSuccess        *bool      `json:"require_validate_callback_success,omitempty"`
	ShippingDetails                       string     `json:"shipping_details,omitempty"`
	ShowSubtotalDetail                    *bool      `json:"show_subtotal_detail,omitempty"`
	ShowVATRegistrationNumberField        *bool      `json:"show_vat_registration_number_field,omitempty"`
	TitleMandatory                        *bool      `json:"title_mandatory,omitempty"`
	VATRemoved                            *bool      `json:"vat_removed,omitempty"`
	VerifyNationalIdentificationNumber    *bool      `json:"verify_national_identification_number,omitempty"`
}

// Checkbox is an extra checkbox shown in the checkout. ID is set only in
// additional_checkboxes.
type Checkbox struct {
	ID       string `json:"id,omitempty"`
	Text     string `json:"text"`
	Checked  bool   `json:"checked"`
	Required bool   `json:"required"`
}

// Attachment carries extra merchant data (EMD) as a JSON string in Body.
type Attachment struct {
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
}

// GUI holds options for the checkout client, e.g. "minimal_confirmation".
type GUI struct {
	Options []string `json:"options,omitempty"`
}

// ShippingOption is one way to deliver the order. Price includes tax, in
// minor units; TaxRate has two implicit decimals.
type ShippingOption struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Description    string `json:"description,omitempty"`
	Promo          string `json:"promo,omitempty"`
	Price          int64  `json:"price"`
	TaxAmount      int64  `json:"tax_amount"`
	TaxRate        int64  `json:"tax_rate"`
	Preselected    bool   `json:"preselected,omitempty"`
	ShippingMethod string `json:"shipping_method,omitempty"`
	TMSReference   string `json:"tms_reference,omitempty"`
}

// LinesTotal is the sum of the order lines' total_amount. For a consistent
// order it equals OrderAmount; comparing the two catches an order whose lines
// and total disagree.
func (o *Order) LinesTotal() int64 {
	var sum int64
	for _, l := range o.OrderLines {
		sum += l.TotalAmount
	}
	return sum
}
