import base64, quopri, os, json, sys
from email.header import Header
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
cases = []

def hdr(mid, frm, subject, date="Mon, 16 Nov 2026 10:00:00 +0000", extra=""):
    return (f"Message-ID: <{mid}>\r\nDate: {date}\r\nFrom: {frm}\r\nTo: support@wavespeed.ai\r\n"
            f"Subject: {subject}\r\nMIME-Version: 1.0\r\n{extra}")

def write(name, data, **expect):
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    expect["file"] = name
    cases.append(expect)

def single(charset, cte, body):
    raw = body.encode(charset)
    if cte == "base64":
        enc = base64.encodebytes(raw)
    elif cte == "quoted-printable":
        enc = quopri.encodestring(raw)
    else:
        enc = raw
    return raw, enc

def text_msg(name, mid, frm, subject, body, charset="utf-8", cte="8bit", ctype="text/plain", extra="", **expect):
    _, enc = single(charset, cte, body)
    head = hdr(mid, frm, subject, extra=extra) + f"Content-Type: {ctype}; charset={charset}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    write(name, head.encode("ascii") + enc, **expect)

# 01 HTML-only enterprise, complete -> waits for the company-domain confirmation
html01 = """<html><body><p>Dear WaveSpeedAI team,</p>
<p>We apply for a monthly credit line.</p>
<ul>
<li><b>Account email:</b> ops@acme-render.com</li>
<li><b>Applicant type:</b> Enterprise</li>
<li><b>Legal company name:</b> Acme Render Inc.</li>
<li><b>Registration country:</b> Canada</li>
<li><b>Website:</b> <a href="https://acme-render.com">https://acme-render.com</a></li>
<li><b>Product:</b> RenderDesk, 3D product visualisation for furniture shops</li>
<li><b>Use case:</b> image-to-3D and upscaling of catalogue photos</li>
<li><b>AWS account:</b> 1234-5678-9012, opened June 2019, in good standing, about $2,000/month spend</li>
<li><b>Expected monthly usage:</b> $150</li>
<li><b>Requested credit line:</b> $200/month</li>
<li><b>Business contact:</b> Microsoft Teams (acme-render) or this email</li>
</ul><p>Best,<br>Jean Tremblay</p></body></html>"""
text_msg("01-html-only-enterprise.eml", "c01@acme-render.com", "Jean Tremblay <jean@acme-render.com>",
         "Credit line application - Acme Render", html01, ctype="text/html", cte="quoted-printable",
         outcome="created_application", state="awaiting_domain_confirmation", applicant_type="enterprise",
         missing=["company_domain_confirmation"], findings_exclude=["free_mail_domain"])

# 02 base64 plain text, individual with product, complete -> pending_review
body02 = """Hi,

I'm an independent developer applying for a credit line.

- Account email: lena.dev@gmail.com
- Applying as: individual
- Product: Storyweave, an Android app that illustrates bedtime stories
- App: https://play.google.com/store/apps/details?id=app.storyweave
- Website: https://storyweave.app
- AWS account: yes, opened January 2022, about $30/month
- Expected usage about $90/month, requesting $200/month
- Contact: Telegram @lenadev

Thanks, Lena
"""
text_msg("02-base64-individual.eml", "c02@mail.gmail.com", "Lena Vogel <lena.dev@gmail.com>",
         "credit line for my app", body02, cte="base64",
         outcome="created_application", state="pending_review", applicant_type="individual_with_product",
         missing=[], findings_include=["free_mail_domain"], field={"business_contact": "Telegram @lenadev", "requested_limit_cents": "20000", "expected_monthly_spend_cents": "9000"})

# 03 ISO-8859-1 quoted-printable, German labels, enterprise
body03 = """Sehr geehrte Damen und Herren,

wir beantragen eine monatliche Kreditlinie.

Firma: Müller Bildverarbeitung GmbH
Land: Deutschland
Webseite: https://www.mueller-bild.de
Produkt: Bildprüfung für Fertigungsstraßen
Use case: Qualitätskontrolle mit Bildmodellen
Account email: einkauf@mueller-bild.de
Applicant type: Enterprise
Requested credit line: 200 USD/month
Expected monthly usage: 150 USD

Mit freundlichen Grüßen
Jürgen Müller
"""
text_msg("03-latin1-qp-german.eml", "c03@mueller-bild.de", "=?ISO-8859-1?Q?J=FCrgen_M=FCller?= <juergen@mueller-bild.de>",
         "=?ISO-8859-1?Q?Antrag_Kreditlinie_M=FCller_Bildverarbeitung?=", body03, charset="iso-8859-1", cte="quoted-printable",
         outcome="created_application", state="awaiting_domain_confirmation", applicant_type="enterprise",
         field={"legal_company_name": "Müller Bildverarbeitung GmbH"})

# 04 Windows-1252 with curly quotes and a euro sign, individual with product
body04 = """Hello,

I’m a freelance designer – I’d like a “credit line” for my product.

Account email: marco.rossi@outlook.com
Applicant type: individual
Product: Palette Pal, a Figma plugin that generates mood boards (costs €4/month)
Website: https://palettepal.design
Expected monthly usage: $60
Requested credit line: $100/month
AWS account: none

Marco
"""
text_msg("04-windows-1252.eml", "c04@outlook.com", "Marco Rossi <marco.rossi@outlook.com>",
         "Credit line request", body04, charset="windows-1252", cte="quoted-printable",
         outcome="created_application", state="pending_review", applicant_type="individual_with_product",
         field={"product": "Palette Pal, a Figma plugin that generates mood boards (costs €4/month)"})

# 05 GBK, Chinese labels, enterprise
body05 = """您好，

我们申请信用额度。

账户邮箱：finance@huaxing-ai.cn
申请类型：企业
公司名称：杭州华星智能科技有限公司
注册地：中国
网站：https://www.huaxing-ai.cn
产品：华星设计，电商图片生成工具
用途：商品图片批量生成
预计月用量：$180
申请额度：$200/月
AWS：1111-2222-3333，opened March 2020，good standing

谢谢
"""
text_msg("05-gbk-chinese.eml", "c05@huaxing-ai.cn", "=?GBK?B?" + base64.b64encode("李明".encode("gbk")).decode() + "?= <liming@huaxing-ai.cn>",
         "=?GBK?B?" + base64.b64encode("信用额度申请".encode("gbk")).decode() + "?=", body05, charset="gbk", cte="base64",
         outcome="created_application", applicant_type="enterprise",
         field={"legal_company_name": "杭州华星智能科技有限公司"})

# 06 GB2312 label, individual without product
body06 = """你好，我只是想试试视频模型，没有公司也没有产品，能给我信用额度吗？
我的账号：wangfang2001@qq.com
"""
text_msg("06-gb2312-no-product.eml", "c06@qq.com", "wangfang2001@qq.com", "=?GB2312?B?" + base64.b64encode("申请额度".encode("gb2312")).decode() + "?=",
         body06, charset="gb2312", cte="8bit",
         outcome="created_application", state="closed_prepaid", applicant_type="individual_without_product")

# 07 Big5, traditional Chinese, individual with product
body07 = """您好，

我是個人開發者，申請信用額度。

帳號：chen.dev@gmail.com
Applicant type: individual
產品：拍拍修圖，iPhone 照片修復 App
網站：https://paipai.tw
App: https://apps.apple.com/tw/app/paipai/id1234567890
預計 usage about $50/month, requesting $100/month

謝謝
"""
text_msg("07-big5-individual.eml", "c07@gmail.com", "chen.dev@gmail.com", "Credit line application",
         body07, charset="big5", cte="base64",
         outcome="created_application", applicant_type="individual_with_product",
         field={"product": "拍拍修圖，iPhone 照片修復 App"})

# 08 Shift_JIS, Japanese enterprise
body08 = """ご担当者様

与信枠（後払い）の申請をいたします。

アカウント：keiri@sakura-vision.jp
Applicant type: Enterprise
会社名：株式会社さくらビジョン
国：日本
ウェブサイト：https://sakura-vision.jp
製品：さくらスタジオ（動画広告の自動生成）
使用目的：広告動画の生成
Expected monthly usage: $150
Requested credit line: $200/month

よろしくお願いいたします。
"""
text_msg("08-shift-jis.eml", "c08@sakura-vision.jp", "tanaka@sakura-vision.jp", "Credit line application",
         body08, charset="shift_jis", cte="base64",
         outcome="created_application", applicant_type="enterprise",
         field={"legal_company_name": "株式会社さくらビジョン"})

# 09 ISO-2022-JP body and encoded-word subject, individual with product
body09 = """こんにちは。

個人開発者です。クレジットライン(credit line)を申請します。

アカウント：yuki.sato@gmail.com
Applicant type: individual
製品：ことばアート（俳句から絵を作るアプリ）
ウェブサイト：https://kotoba-art.jp
Requested credit line: $100/month
"""
subj09 = "=?ISO-2022-JP?B?" + base64.b64encode("与信枠の申請".encode("iso-2022-jp")).decode() + "?="
text_msg("09-iso-2022-jp.eml", "c09@gmail.com", "yuki.sato@gmail.com", subj09,
         body09, charset="iso-2022-jp", cte="7bit",
         outcome="created_application", applicant_type="individual_with_product",
         field={"product": "ことばアート（俳句から絵を作るアプリ）"})

# 10 EUC-KR, Korean enterprise
body10 = """안녕하세요,

신용 한도를 신청합니다.

계정: billing@hanbit-media.kr
Applicant type: Enterprise
회사명: 한빛미디어랩 주식회사
국가: 대한민국
웹사이트: https://hanbit-media.kr
제품: 한빛 숏폼 (짧은 동영상 자동 편집)
용도: 동영상 생성
Requested credit line: $200/month
Expected monthly usage: $200
"""
text_msg("10-euc-kr.eml", "c10@hanbit-media.kr", "kim@hanbit-media.kr", "=?EUC-KR?B?" + base64.b64encode("신용 한도 신청".encode("euc-kr")).decode() + "?=",
         body10, charset="euc-kr", cte="base64",
         outcome="created_application", applicant_type="enterprise",
         field={"legal_company_name": "한빛미디어랩 주식회사"})

# 11 UTF-8 encoded-word subject, nested multipart alternative + inline image
body11_txt = """Hello,

Account email: ana@pixelpress.studio
Applicant type: Enterprise
Legal company name: Pixel Press Studio S.L.
Registration country: Spain
Website: https://pixelpress.studio
Product: PressKit, social media visuals for newsrooms
Use case: headline illustrations
Expected monthly usage: 120 USD
Requested credit line: 150 USD per month
WeChat: pixelpress_es
"""
b11 = base64.encodebytes(body11_txt.encode()).decode()
h11 = base64.encodebytes(("<html><body><pre>" + body11_txt + "</pre></body></html>").encode()).decode()
png = base64.encodebytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()
raw11 = hdr("c11@pixelpress.studio", "=?UTF-8?Q?Ana_Garc=C3=ADa?= <ana@pixelpress.studio>", "=?UTF-8?Q?Solicitud_de_l=C3=ADnea_de_cr=C3=A9dito_=E2=80=93_Pixel_Press?=") + \
f"""Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

{b11}
--alt
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

{h11}
--alt--
--rel
Content-Type: image/png
Content-Disposition: inline; filename="logo.png"
Content-ID: <logo@pixelpress>
Content-Transfer-Encoding: base64

{png}
--rel--
--outer--
"""
write("11-nested-multipart-encoded-subject.eml", raw11.replace("\n", "\r\n"),
      outcome="created_application", state="awaiting_domain_confirmation", applicant_type="enterprise",
      field={"business_contact": "pixelpress_es", "requested_limit_cents": "15000"})

# 12 forwarded as message/rfc822 by a colleague
inner12 = hdr("c12-inner@brightlabs.io", "Sam Ortiz <sam@brightlabs.io>", "Credit line application", date="Fri, 13 Nov 2026 08:00:00 +0000") + \
"""Content-Type: text/plain; charset=utf-8

Hi,
Account email: sam@brightlabs.io
Applicant type: Enterprise
Legal company name: Bright Labs LLC
Registration country: USA
Website: https://brightlabs.io
Product: Brightboard, AI whiteboard for teachers
Use case: diagram generation
Expected monthly usage: $100
Requested credit line: $200/month
Business contact: this email
"""
raw12 = hdr("c12@wavespeed.ai", "Support Agent <agent@wavespeed.ai>", "Fwd: Credit line application") + \
f"""Content-Type: multipart/mixed; boundary="fw"

--fw
Content-Type: text/plain; charset=utf-8

Forwarding this one, it came to my personal address.

--fw
Content-Type: message/rfc822

{inner12}
--fw--
"""
write("12-forwarded-rfc822.eml", raw12.replace("\n", "\r\n"),
      outcome="created_application", applicant_type="enterprise", account="sam@brightlabs.io")

# 13 forwarded inline
body13 = """FYI, see below.

---------- Forwarded message ---------
From: Noor Haddad <noor@cedarsketch.com>
Date: Thu, 12 Nov 2026 at 14:02
Subject: Credit line
To: <sales@wavespeed.ai>

Hello,
Account email: noor@cedarsketch.com
Applicant type: individual
Product: CedarSketch, a web app that turns floor plans into renders
Website: https://cedarsketch.com
Requested credit line: $200/month
Expected monthly usage: $150
"""
text_msg("13-forwarded-inline.eml", "c13@wavespeed.ai", "Sales Team <sales@wavespeed.ai>", "Fwd: Credit line", body13,
         outcome="created_application", applicant_type="individual_with_product", account="noor@cedarsketch.com")

# 14 quoted earlier mail is ignored: the quote has a vercel site, the new text does not
body14 = """Hi, here are our details:

Account email: dev@orbitnotes.com
Applicant type: individual
Product: Orbit Notes, a note taking app with AI sketches
Website: https://orbitnotes.com
Requested credit line: $100/month

--
Kai Berg
Orbit Notes | https://orbitnotes-old.vercel.app

On Mon, 9 Nov 2026 at 10:30, Someone <someone@example.org> wrote:
> Website: https://orbit-notes.vercel.app
> Product: something else entirely
"""
text_msg("14-quoted-reply-ignored.eml", "c14@orbitnotes.com", "Kai Berg <dev@orbitnotes.com>", "Re: our credit line", body14,
         extra="In-Reply-To: <unknown-thread@example.org>\r\n",
         outcome="created_application", state="awaiting_materials", applicant_type="individual_with_product",
         missing=["expected_monthly_spend"], findings_exclude=["generic_platform_website"], field={"website": "https://orbitnotes.com"})

# 15 attachments: AWS billing CSV (evidence) and a PDF
csv15 = """"InvoiceID","PayerAccountId","BillingPeriodStartDate","TotalAmount","CurrencyCode"
"EUINGB23-001","482199371204","2026/06/01","2,310.55","USD"
"EUINGB23-002","482199371204","2026/07/01","2,480.10","USD"
"EUINGB23-003","482199371204","2026/08/01","2,120.00","USD"
"EUINGB23-004","482199371204","2026/09/01","2,655.90","USD"
"EUINGB23-005","482199371204","2026/10/01","2,702.35","USD"
"""
body15 = """Hello,

Account email: payments@tidewater.ai
Applicant type: Enterprise
Legal company name: Tidewater Analytics Ltd
Registration country: Ireland
Website: https://tidewater.ai
Product: Tidewater Vision, satellite image enhancement
Use case: super-resolution of satellite tiles
AWS account: 4821-9937-1204, opened May 2020, in good standing
Expected monthly usage: $190
Requested credit line: $200/month
Business contact: Slack tidewater.slack.com

Our AWS billing for the last five months is attached.
"""
raw15 = hdr("c15@tidewater.ai", "Aoife Byrne <aoife@tidewater.ai>", "Credit line application (AWS bills attached)") + \
f"""Content-Type: multipart/mixed; boundary="att"

--att
Content-Type: text/plain; charset=utf-8

{body15}
--att
Content-Type: text/csv; name="aws-billing.csv"
Content-Disposition: attachment; filename="aws-billing.csv"
Content-Transfer-Encoding: base64

{base64.encodebytes(csv15.encode()).decode()}
--att
Content-Type: application/pdf; name="certificate.pdf"
Content-Disposition: attachment; filename="certificate.pdf"
Content-Transfer-Encoding: base64

{base64.encodebytes(b"%PDF-1.4 fake certificate of incorporation").decode()}
--att--
"""
write("15-attachments-aws-csv.eml", raw15.replace("\n", "\r\n"),
      outcome="created_application", applicant_type="enterprise", evidence_months=5)

# 16-20 auto-replies and bounces
text_msg("16-auto-submitted.eml", "c16@corp.example", "Bob <bob@corp.example>", "Re: Your credit line application",
         "Thank you for your email. I will get back to you.\n", extra="Auto-Submitted: auto-replied\r\n",
         outcome="ignored_auto_reply")
text_msg("17-x-autoreply.eml", "c17@corp.example", "Alice <alice@corp.example>", "Re: Materials needed",
         "I'm travelling until December.\n", extra="X-Autoreply: yes\r\n", outcome="ignored_auto_reply")
text_msg("18-precedence-bulk.eml", "c18@news.example", "Newsletter <news@news.example>", "Our November product update",
         "Big news this month: credit line features for our customers!\n", extra="Precedence: bulk\r\nList-Unsubscribe: <mailto:u@news.example>\r\n",
         outcome="ignored_auto_reply")
text_msg("19-ooo-subject-german.eml", "c19@firma.de", "Petra <petra@firma.de>", "Abwesenheitsnotiz: Antrag Kreditlinie",
         "Ich bin bis zum 30.11. nicht im Büro.\n", outcome="ignored_auto_reply")
raw20 = hdr("c20@mx.example", "Mail Delivery Subsystem <mailer-daemon@mx.example>", "Undelivered Mail Returned to Sender") + \
"""Content-Type: multipart/report; report-type=delivery-status; boundary="dsn"

--dsn
Content-Type: text/plain

This is the mail system. Your message could not be delivered.

--dsn
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example
Final-Recipient: rfc822; nobody@nowhere.example
Action: failed
Status: 5.1.1

--dsn--
"""
write("20-bounce.eml", raw20.replace("\n", "\r\n"), outcome="ignored_auto_reply")
text_msg("21-ooo-subject-chinese.eml", "c21@corp.cn", "zhang@corp.cn", "=?UTF-8?B?" + base64.b64encode("自动回复：信用额度".encode()).decode() + "?=",
         "我正在休假。\n", outcome="ignored_auto_reply")

# 22 spam and 23 empty body -> triage
text_msg("22-spam.eml", "c22@spam.example", "Winner <promo@spam.example>", "You have WON!!!",
         "Click here to claim your prize: http://bit.ly/xyz\nBest replica watches.\n", outcome="triage")
text_msg("23-empty-body.eml", "c23@corp.example", "Empty <empty@corp.example>", "", "", outcome="triage")

# 24 AWS account too new
body24 = """Hi, please consider us for a credit line.

Account email: hello@quickthumb.io
Applicant type: Enterprise
Legal company name: QuickThumb OÜ
Registration country: Estonia
Website: https://quickthumb.io
Product: QuickThumb, YouTube thumbnail generator
Use case: thumbnail images
AWS account: 5555-6666-7777, created last week for this
Expected monthly usage: $150
Requested credit line: $200/month
"""
text_msg("24-aws-too-new.eml", "c24@quickthumb.io", "hello@quickthumb.io", "Credit line application", body24,
         outcome="created_application", applicant_type="enterprise", findings_include=["aws_account_too_new"])

# 25 tool directory profile as website
body25 = """Hello,
Account email: me@pixiegen.net
Applicant type: individual
Product: PixieGen, avatar maker
Website: https://www.producthunt.com/products/pixiegen
Requested credit line: $100/month
"""
text_msg("25-tool-directory.eml", "c25@pixiegen.net", "me@pixiegen.net", "Credit line", body25,
         outcome="created_application", state="awaiting_materials", findings_include=["tool_directory_website"])

# 26 email and website on different domains
body26 = """Hello,
Account email: cto@northwind-labs.com
Applicant type: Enterprise
Legal company name: Northwind Labs Inc.
Registration country: USA
Website: https://contoso-designs.io
Product: Northwind Canvas, marketing images
Use case: ad creatives
Expected monthly usage: $180
Requested credit line: $200/month
"""
text_msg("26-domain-mismatch.eml", "c26@northwind-labs.com", "cto@northwind-labs.com", "Credit line application", body26,
         outcome="created_application", state="awaiting_domain_confirmation", findings_include=["email_website_domain_mismatch"])

# 27 enterprise with missing materials, 28 materials reply via In-Reply-To, 29 new mail from same account
body27 = """Hello,
we'd like a credit line for our company.
Account email: admin@fjordpixel.no
Applicant type: Enterprise
Legal company name: Fjord Pixel AS
Requested credit line: $200/month
"""
text_msg("27-materials-missing.eml", "c27@fjordpixel.no", "Ingrid <admin@fjordpixel.no>", "Credit line application", body27,
         outcome="created_application", state="awaiting_materials", applicant_type="enterprise",
         missing_include=["registration_country", "website", "product", "use_case"])
body28 = """Here is the rest:

Registration country: Norway
Website: https://fjordpixel.no
Product: Fjord Pixel, landscape photo restoration
Use case: restoring archive photos
Expected monthly usage: $120

Ingrid

On Mon, 16 Nov 2026, WaveSpeedAI Support wrote:
> Please send: registration country, website, product, use case
"""
text_msg("28-materials-reply-in-reply-to.eml", "c28@fjordpixel.no", "Ingrid <admin@fjordpixel.no>", "Re: Credit line application", body28,
         extra="In-Reply-To: <c27@fjordpixel.no>\r\nReferences: <c27@fjordpixel.no>\r\n",
         outcome="updated_application", state="awaiting_domain_confirmation", same_application_as="27-materials-missing.eml")
body29 = """Hello again, our business contact is WhatsApp +47 400 00 000.
Business contact: WhatsApp +47 400 00 000
"""
text_msg("29-same-account-new-message.eml", "c29@fjordpixel.no", "admin@fjordpixel.no", "Credit line - contact", body29,
         outcome="domain_confirmed", state="pending_review", field={"business_contact": "WhatsApp +47 400 00 000"}, same_application_as="27-materials-missing.eml")

# 30 confirmation reply from free mail does not confirm; 31 from another domain does not; 32 from the company confirms
text_msg("30-confirmation-from-free-mail.eml", "c30@gmail.com", "Jean Tremblay <jean.tremblay@gmail.com>", "Re: Credit line application - Acme Render",
         "Confirmed, this is our application.\n", extra="In-Reply-To: <c01@acme-render.com>\r\n",
         outcome="updated_application", state="awaiting_domain_confirmation", same_application_as="01-html-only-enterprise.eml",
         findings_include=["confirmation_not_from_company_domain"])
text_msg("31-confirmation-from-other-domain.eml", "c31@agency.example", "Agency <pm@render-agency.com>", "Re: Credit line application - Acme Render",
         "We confirm on behalf of Acme Render.\n", extra="In-Reply-To: <c01@acme-render.com>\r\n",
         outcome="updated_application", state="awaiting_domain_confirmation", same_application_as="01-html-only-enterprise.eml",
         findings_include=["confirmation_not_from_company_domain"])
text_msg("32-confirmation-company-domain.eml", "c32@acme-render.com", "CFO <cfo@acme-render.com>", "Re: Credit line application - Acme Render",
         "Confirmed. I'm the CFO of Acme Render Inc.\n\nOn Mon, 16 Nov 2026 support wrote:\n> Please confirm from an address at acme-render.com\n",
         extra="References: <c01@acme-render.com> <c30@gmail.com>\r\n",
         outcome="domain_confirmed", state="pending_review", missing=[], same_application_as="01-html-only-enterprise.eml")

# 33 invoice request in English, 34 in Chinese
text_msg("33-invoice-request.eml", "c33@brightlabs.io", "Accounts <accounts@brightlabs.io>", "Invoice request October 2026",
         "Please send an invoice for account sam@brightlabs.io, billing period 2026-10, transaction pi_3Q9aaaBBBcccDDD1.\nCompany: Bright Labs LLC\nBilling address: 500 Howard Street, San Francisco, CA 94105, USA\n",
         outcome="invoice_request")
text_msg("34-invoice-request-chinese.eml", "c34@huaxing-ai.cn", "finance@huaxing-ai.cn", "=?UTF-8?B?" + base64.b64encode("开具发票申请".encode()).decode() + "?=",
         "您好，请为账号 finance@huaxing-ai.cn 开具2026-10的发票。\n公司名称：杭州华星智能科技有限公司\n地址：浙江省杭州市西湖区文三路100号\n",
         outcome="invoice_request")

# 35 limit increase without a line
text_msg("35-increase-without-line.eml", "c35@tidewater.ai", "payments@tidewater.ai", "Increase our credit line",
         "Could you raise our credit line for payments@tidewater.ai to $500/month?\n",
         outcome="limit_increase_request", findings_include=["no_credit_line_for_account"])

# 36 HTML-only individual without product
text_msg("36-html-no-product.eml", "c36@yahoo.com", "student.jo@yahoo.com", "credit?",
         "<html><body><div>Hi! I'm a student and just want to try your image models.</div><div>I don't have a product or a company. Can I get a credit line?</div><div>account: student.jo@yahoo.com</div></body></html>",
         ctype="text/html", outcome="created_application", state="closed_prepaid", applicant_type="individual_without_product")

# 37 same bytes again (copy of 02), 38 same Message-ID with other bytes
with open(os.path.join(out, "02-base64-individual.eml"), "rb") as f:
    write("37-same-bytes-as-02.eml", f.read(), outcome="duplicate", same_application_as="02-base64-individual.eml")
text_msg("38-same-message-id-as-22.eml", "c22@spam.example", "Winner <promo@spam.example>", "You have WON!!! (resent)",
         "Resent with other bytes.\n", outcome="duplicate")

# 39 headerless garbage: never dropped
write("39-garbage.eml", bytes(range(256)) * 4, outcome="triage")

# 40 an unknown charset label: read as best effort, still an application
text_msg("40-unknown-charset.eml", "c40@lumina-kids.com", "lumina@lumina-kids.com", "Credit line application",
         "Account email: lumina@lumina-kids.com\nApplicant type: individual\nProduct: Lumina Kids, colouring pages app\nWebsite: https://lumina-kids.com\nRequested credit line: $100/month\n",
         charset="x-unknown-8bit", cte="7bit") if False else None
body40 = b"Account email: lumina@lumina-kids.com\nApplicant type: individual\nProduct: Lumina Kids, colouring pages app\nWebsite: https://lumina-kids.com\nRequested credit line: $100/month\n"
write("40-unknown-charset.eml", hdr("c40@lumina-kids.com", "lumina@lumina-kids.com", "Credit line application").encode() +
      b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n" + body40,
      outcome="created_application", applicant_type="individual_with_product")

# 41-48: applications in the customers' languages, several from free mail with a company legal
# form in the text (issue 17, item 7): recognised as applications, fields extracted, and the
# legal form counting toward enterprise. Non-ASCII names and subjects as RFC 2047 words.
def u(text):
    return Header(text, "utf-8").encode()

def who(name, addr):
    return f"{u(name)} <{addr}>"

text_msg("41-spanish-enterprise-free-mail.eml", "c41@gmail.com", who("Lucía Ortega", "lucia.ortega.sv@gmail.com"),
         u("Solicitud de línea de crédito mensual"),
         "Hola equipo de WaveSpeedAI:\n\nQueremos solicitar una línea de crédito mensual para nuestra empresa.\n\n"
         "Correo de la cuenta: lucia.ortega.sv@gmail.com\nRazón social: Soluciones Visuales Ortega S.L.\n"
         "País de registro: España\nSitio web: https://solucionesvisuales.es\n"
         "Producto: catálogo de fotos de producto para tiendas en línea\nCaso de uso: generación de imágenes por lotes\n"
         "Gasto mensual estimado: 150 USD\nLímite solicitado: 200 USD al mes\nContacto: WhatsApp +34 600 000 000\n\nGracias,\nLucía\n",
         cte="quoted-printable",
         outcome="created_application", applicant_type="enterprise",
         field={"legal_company_name": "Soluciones Visuales Ortega S.L.", "requested_limit_cents": "20000",
                "website": "https://solucionesvisuales.es"})

text_msg("42-portuguese-enterprise-hotmail.eml", "c42@hotmail.com", who("Rafael Souza", "rafa.souza.estudio@hotmail.com"),
         u("Pedido de linha de crédito"),
         "Olá,\n\nGostaríamos de pedir uma linha de crédito mensal.\n\nE-mail da conta: rafa.souza.estudio@hotmail.com\n"
         "Razão social: Estúdio Aurora Criativo Ltda.\nPaís de registro: Brasil\nSite: https://estudioaurora.com.br\n"
         "Produto: ilustrações sob demanda para editoras\nFinalidade: geração de imagens e vídeos curtos\n"
         "Gasto mensal: US$ 180\nLimite solicitado: US$ 200 por mês\nContato: Telegram @rafasouza\n\nObrigado,\nRafael\n",
         charset="iso-8859-1", cte="quoted-printable",
         outcome="created_application", applicant_type="enterprise",
         field={"legal_company_name": "Estúdio Aurora Criativo Ltda.", "registration_country": "Brasil"})

text_msg("43-french-individual-app.eml", "c43@orange.fr", who("Camille Durand", "camille.durand@orange.fr"),
         u("Demande de crédit mensuel"),
         "Bonjour,\n\nJe suis développeuse indépendante et je souhaite une ligne de crédit.\n\n"
         "Compte : camille.durand@orange.fr\nType de demandeur : particulier\n"
         "Produit : Croquis Vivant, une application iOS qui anime les dessins d'enfants\n"
         "Application : https://apps.apple.com/fr/app/croquis-vivant/id6501234567\n"
         "Consommation mensuelle : 90 USD\nLimite demandée : 150 USD par mois\nContact : Discord camille#4410\n\nMerci !\n",
         cte="quoted-printable",
         outcome="created_application", applicant_type="individual_with_product",
         field={"app_link": "https://apps.apple.com/fr/app/croquis-vivant/id6501234567", "requested_limit_cents": "15000"})

text_msg("44-german-gmbh-free-mail.eml", "c44@gmx.de", who("Tobias Weber", "tobias.weber@gmx.de"),
         u("Anfrage Kreditrahmen"),
         "Guten Tag,\n\nwir, die Bildwerk Nord GmbH aus Hamburg, möchten einen monatlichen Kreditrahmen beantragen.\n"
         "Unsere Webseite ist https://bildwerk-nord.de und wir erzeugen Produktbilder für Onlinehändler.\n\n"
         "Konto: tobias.weber@gmx.de\nErwartete monatliche Nutzung: 160 USD\nGewünschte Kreditlinie: 200 USD\n"
         "Ansprechpartner: Tobias Weber, Microsoft Teams\n\nViele Grüße\nTobias Weber\n",
         charset="iso-8859-1", cte="quoted-printable",
         outcome="created_application", applicant_type="enterprise",
         field={"legal_company_name": "Bildwerk Nord GmbH", "expected_monthly_spend_cents": "16000"})

text_msg("45-japanese-kabushiki-gaisha-gmail.eml", "c45@gmail.com", who("Sato Haruka", "haruka.sato.mirai@gmail.com"),
         u("クレジットラインの申請"),
         "WaveSpeedAI ご担当者様\n\n月額のクレジットライン（与信枠）を申請いたします。\n\n"
         "アカウントメール：haruka.sato.mirai@gmail.com\n会社名：株式会社ミライ画像研究所\n所在国：日本\n"
         "ウェブサイト：https://mirai-gazo.jp\n製品：ECサイト向け商品画像の自動生成サービス\n利用目的：画像生成APIの本番利用\n"
         "予想月額：150 USD\n希望額：200 USD\n連絡先：Slack（mirai-gazo.slack.com）\n\nよろしくお願いいたします。\n",
         charset="iso-2022-jp", cte="7bit",
         outcome="created_application", applicant_type="enterprise",
         field={"legal_company_name": "株式会社ミライ画像研究所", "website": "https://mirai-gazo.jp", "requested_limit_cents": "20000"})

text_msg("46-korean-jusikhoesa-naver.eml", "c46@naver.com", who("김민준", "minjun.kim.hanbit@naver.com"),
         u("월 신용 한도 신청"),
         "안녕하세요,\n\n저희 회사의 월 신용 한도를 신청합니다.\n\n계정 이메일: minjun.kim.hanbit@naver.com\n"
         "회사명: 주식회사 한빛그래픽스\n등록 국가: 대한민국\n홈페이지: https://hanbit-graphics.kr\n"
         "제품: 웹툰 배경 자동 생성 도구\n사용 사례: 이미지 생성 API 연동\n예상 월 사용량: 170 USD\n요청 한도: 200 USD\n"
         "담당자: 김민준, 카카오톡\n\n감사합니다.\n",
         charset="euc-kr", cte="base64",
         outcome="created_application", applicant_type="enterprise",
         field={"legal_company_name": "주식회사 한빛그래픽스", "requested_limit_cents": "20000"})

text_msg("47-chinese-youxian-gongsi-qq.eml", "c47@qq.com", who("陈思远", "1849201733@qq.com"),
         u("申请月度信用额度"),
         "您好！\n\n我们是深圳星图视觉科技有限公司，想为我们的账号申请每月的信用额度。\n"
         "官网 https://xingtu-vision.cn ，主要做电商商品图和短视频的批量生成。\n\n"
         "账号邮箱：1849201733@qq.com\n预计月用量：150美元\n申请额度：200美元\n联系方式：微信 chensiyuan_xt\n\n谢谢！\n",
         charset="gbk", cte="base64",
         outcome="created_application", applicant_type="enterprise",
         field={"legal_company_name": "深圳星图视觉科技有限公司", "requested_limit_cents": "20000"})

text_msg("48-portuguese-individual-product.eml", "c48@gmail.com", who("Ana Lima", "ana.lima.dev@gmail.com"),
         u("linha de credito para desenvolvedora"),
         "Oi! Sou desenvolvedora autônoma e uso a API todo mês; gostaria de uma linha de crédito.\n\n"
         "Conta: ana.lima.dev@gmail.com\nTipo: pessoa física\nProduto: Fotinha, app Android que cria figurinhas\n"
         "App: https://play.google.com/store/apps/details?id=br.fotinha.app\nGasto mensal: US$ 60\n"
         "Limite solicitado: US$ 100\nContato: este e-mail\n",
         outcome="created_application", applicant_type="individual_with_product",
         field={"app_link": "https://play.google.com/store/apps/details?id=br.fotinha.app"})

# 49-56 (issue 23, item 4): an individual who names no product may simply have left it out:
# asked for the product materials (awaiting_materials), in the customers' languages; only a
# statement that there is no product or project closes to the prepaid path.
ASK_PRODUCT = ["product", "app_link"]
text_msg("49-individual-no-product-named.eml", "c49@gmail.com", "Noah Price <noah.price.dev@gmail.com>",
         "Credit line application",
         "Hello,\n\nI'm applying as an individual for a monthly credit line.\n\nAccount email: noah.price.dev@gmail.com\n"
         "Expected monthly usage: $80\nRequested credit line: $100/month\n\nThanks, Noah\n",
         outcome="created_application", state="awaiting_materials", applicant_type="unknown",
         missing_include=ASK_PRODUCT)
text_msg("50-spanish-individual-no-product-named.eml", "c50@gmail.com", who("Diego Ruiz", "diego.ruiz.mx@gmail.com"),
         u("Solicitud de línea de crédito"),
         "Hola,\n\nQuisiera una línea de crédito mensual.\n\nCorreo de la cuenta: diego.ruiz.mx@gmail.com\n"
         "Tipo de solicitante: particular\nGasto mensual estimado: 70 USD\nLímite solicitado: 100 USD al mes\n\nSaludos,\nDiego\n",
         cte="quoted-printable",
         outcome="created_application", state="awaiting_materials", applicant_type="unknown", missing_include=ASK_PRODUCT)
text_msg("51-german-individual-no-product-named.eml", "c51@web.de", who("Jonas Richter", "jonas.richter@web.de"),
         u("Antrag Kreditlinie"),
         "Hallo,\n\nich möchte eine monatliche Kreditlinie beantragen.\n\nKonto: jonas.richter@web.de\n"
         "Antragsteller: Privatperson\nErwartete monatliche Nutzung: 60 USD\nGewünschte Kreditlinie: 100 USD\n\nGrüße\nJonas\n",
         charset="iso-8859-1", cte="quoted-printable",
         outcome="created_application", state="awaiting_materials", applicant_type="unknown", missing_include=ASK_PRODUCT)
text_msg("52-japanese-individual-no-product-named.eml", "c52@gmail.com", who("Ito Ren", "ren.ito.dev@gmail.com"),
         u("クレジットラインの申請"),
         "WaveSpeedAI ご担当者様\n\n個人としてクレジットラインを申請いたします。\n\nアカウントメール：ren.ito.dev@gmail.com\n"
         "申請者区分：個人\n予想月額：50 USD\n希望額：100 USD\n\nよろしくお願いいたします。\n",
         charset="iso-2022-jp", cte="7bit",
         outcome="created_application", state="awaiting_materials", applicant_type="unknown", missing_include=ASK_PRODUCT)
text_msg("53-spanish-says-no-product.eml", "c53@gmail.com", who("Sofía Marín", "sofia.marin.ar@gmail.com"),
         u("¿Línea de crédito?"),
         "Hola, ¿me pueden dar una línea de crédito? No tengo empresa ni producto, solo estoy probando los modelos de video.\n"
         "Correo de la cuenta: sofia.marin.ar@gmail.com\nTipo de solicitante: particular\n",
         outcome="created_application", state="closed_prepaid", applicant_type="individual_without_product")
text_msg("54-german-says-no-product.eml", "c54@gmx.de", who("Lea Fischer", "lea.fischer@gmx.de"),
         u("Kreditlinie?"),
         "Hallo, bekomme ich eine Kreditlinie? Ich habe kein Produkt und keine Firma, ich probiere nur die Bildmodelle aus.\n"
         "Konto: lea.fischer@gmx.de\n",
         charset="iso-8859-1", cte="quoted-printable",
         outcome="created_application", state="closed_prepaid", applicant_type="individual_without_product")
text_msg("55-korean-says-no-product.eml", "c55@naver.com", who("이서연", "seoyeon.lee@naver.com"),
         u("월 신용 한도 문의"),
         "안녕하세요, 개인으로 월 신용 한도를 받을 수 있을까요? 아직 회사가 없고 제품이 없습니다.\n계정 이메일: seoyeon.lee@naver.com\n",
         charset="euc-kr", cte="base64",
         outcome="created_application", state="closed_prepaid", applicant_type="individual_without_product")
text_msg("56-french-says-no-product.eml", "c56@orange.fr", who("Hugo Martin", "hugo.martin@orange.fr"),
         u("Ligne de crédit ?"),
         "Bonjour, puis-je avoir une ligne de crédit ? Je n'ai pas encore de produit, je découvre l'API.\n"
         "Compte : hugo.martin@orange.fr\nType de demandeur : particulier\n",
         cte="quoted-printable",
         outcome="created_application", state="closed_prepaid", applicant_type="individual_without_product")

# 57-64 (issue 23, item 5): "Main business activity" (policy: "Business Verification") read
# in every supported language; an enterprise still missing materials is asked for it too.
def activity(name, mid, frm, subject, body, want, charset="utf-8", cte="quoted-printable"):
    text_msg(name, mid, frm, subject, body, charset=charset, cte=cte,
             outcome="created_application", applicant_type="enterprise",
             field={"main_business_activity": want})

activity("57-english-main-business-activity.eml", "c57@brightpixel.io", "Ops <ops@brightpixel.io>", "Credit line application",
         "Hello,\n\nApplicant type: Enterprise\nAccount email: ops@brightpixel.io\nLegal company name: Bright Pixel Ltd\n"
         "Registration country: Ireland\nWebsite: https://brightpixel.io\nMain business activity: product photography for online shops\n"
         "Requested credit line: $200/month\n",
         "product photography for online shops")
activity("58-spanish-actividad-principal.eml", "c58@fotonova.es", "Admin <admin@fotonova.es>", u("Solicitud de línea de crédito"),
         "Hola,\n\nTipo de solicitante: empresa\nCorreo de la cuenta: admin@fotonova.es\nRazón social: Fotonova S.L.\n"
         "Actividad principal: edición de fotografía para comercio electrónico\nLímite solicitado: 200 USD al mes\n",
         "edición de fotografía")
activity("59-portuguese-atividade-principal.eml", "c59@pixelarte.com.br", "Contato <contato@pixelarte.com.br>", u("Pedido de linha de crédito"),
         "Olá,\n\nTipo: empresa\nE-mail da conta: contato@pixelarte.com.br\nRazão social: Pixel Arte Ltda.\n"
         "Ramo de atividade: animação publicitária\nLimite solicitado: US$ 200 por mês\n",
         "animação publicitária", charset="iso-8859-1")
activity("60-french-activite-principale.eml", "c60@studiolumiere.fr", "Direction <direction@studiolumiere.fr>", u("Demande de ligne de crédit"),
         "Bonjour,\n\nType de demandeur : entreprise\nCompte : direction@studiolumiere.fr\nRaison sociale : Studio Lumière SAS\n"
         "Activité principale : production de vidéos publicitaires\nLimite demandée : 200 USD par mois\n",
         "production de vidéos publicitaires")
activity("61-german-haupttaetigkeit.eml", "c61@bildfabrik.de", "Einkauf <einkauf@bildfabrik.de>", u("Antrag Kreditlinie"),
         "Guten Tag,\n\nAntragsteller: Unternehmen\nKonto: einkauf@bildfabrik.de\nFirmenname: Bildfabrik GmbH\n"
         "Haupttätigkeit: Produktfotos für Onlinehändler\nGewünschte Kreditlinie: 200 USD\n",
         "Produktfotos für Onlinehändler", charset="iso-8859-1")
activity("62-japanese-jigyou-naiyou.eml", "c62@hikari-design.jp", "Soumu <soumu@hikari-design.jp>", u("クレジットラインの申請"),
         "ご担当者様\n\n申請者区分：法人\nアカウントメール：soumu@hikari-design.jp\n会社名：株式会社ヒカリデザイン\n"
         "主な事業：ゲーム用イラスト制作\n希望額：200 USD\n",
         "ゲーム用イラスト制作", charset="iso-2022-jp", cte="7bit")
activity("63-korean-juyo-saeop.eml", "c63@saebyeok.kr", "Admin <admin@saebyeok.kr>", u("월 신용 한도 신청"),
         "안녕하세요,\n\n신청자 유형: 기업\n계정 이메일: admin@saebyeok.kr\n회사명: 주식회사 새벽스튜디오\n"
         "주요 사업: 웹툰 제작\n요청 한도: 200 USD\n",
         "웹툰 제작", charset="euc-kr", cte="base64")
activity("64-chinese-zhuying-yewu.eml", "c64@yunjing-ai.cn", "Admin <admin@yunjing-ai.cn>", u("申请月度信用额度"),
         "您好！\n\n申请类型：企业\n账号邮箱：admin@yunjing-ai.cn\n公司名称：上海云境智能科技有限公司\n"
         "主营业务：电商短视频生成\n申请额度：200美元\n",
         "电商短视频生成", charset="gbk", cte="base64")
# An enterprise missing materials is asked for its main business activity with them.
text_msg("65-enterprise-asked-main-business-activity.eml", "c65@kitelabs.io", "Ops <ops@kitelabs.io>", "Credit line application",
         "Hello,\n\nApplicant type: Enterprise\nAccount email: ops@kitelabs.io\nLegal company name: Kite Labs Inc.\n"
         "Website: https://kitelabs.io\nRequested credit line: $200/month\n",
         outcome="created_application", state="awaiting_materials", applicant_type="enterprise",
         missing_include=["main_business_activity", "registration_country"])

# 66 (issue 23, item 1): an individual whose verifiable material is a repository and a demo
# video, no website: verified on them (named in findings), straight to review.
text_msg("66-individual-repository-and-demo.eml", "c66@gmail.com", "Mia Kovac <mia.kovac.dev@gmail.com>",
         "Credit line application (individual)",
         "Hi,\n\nI'm an independent developer applying for a credit line.\n\nAccount email: mia.kovac.dev@gmail.com\n"
         "Applicant type: individual\nProduct: Framecut, an open-source CLI that turns long videos into clips\n"
         "Code: https://github.com/miakovac/framecut\nWalkthrough: https://www.youtube.com/watch?v=Fr4m3cut01\n"
         "Expected monthly usage: $70\nRequested credit line: $100/month\nContact: Discord mia#1200\n",
         outcome="created_application", state="pending_review", applicant_type="individual_with_product",
         findings_include=["project_material_repository", "project_material_demo_video"],
         findings_exclude=["aws_account_not_provided"])

# 67-68: AWS login requests (issue 17, item 6; policy: "Users apply for AWS login first"): the
# account's AWS login review opens once; a second request from the account joins it.
text_msg("67-aws-login-request-german.eml", "c67@lichtwerk.de", who("Jonas Brandt", "jonas@lichtwerk.de"),
         u("AWS-Anmeldung"),
         "Guten Tag,\n\nbitte aktivieren Sie die AWS-Anmeldung für unser Konto jonas@lichtwerk.de.\n\nDanke\nJonas\n",
         charset="iso-8859-1", cte="quoted-printable",
         outcome="aws_login_request", state="under_review")

text_msg("68-aws-login-again-chinese.eml", "c68@lichtwerk.de", who("Jonas Brandt", "jonas@lichtwerk.de"),
         u("AWS登录"),
         "您好，我们想开通AWS登录，请问进度如何？\n",
         outcome="aws_login_request", state="under_review", findings_include=["aws_login_already_open"])

with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(cases, f, ensure_ascii=False, indent=1)
print(len(cases))
