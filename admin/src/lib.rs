//! flashsale-admin: the back-office web app. Not built yet; see the admin issue.
