//! The PAM conversation as the flow's `Prompter`.

use pam::constants::{PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_TEXT_INFO};
use pam::conv::Conv;
use zeroize::Zeroizing;

use crate::auth::{ConversationError, Prompter};

pub struct PamPrompter<'a> {
    conv: Option<Conv<'a>>,
    /// PAM_SILENT (sudo before 1.9.16 always sets it): no message of their own;
    /// what the user must know ("Wrong code.") goes in front of the next prompt.
    silent: bool,
    held: String,
}

impl<'a> PamPrompter<'a> {
    pub fn new(conv: Option<Conv<'a>>, silent: bool) -> Self {
        PamPrompter { conv, silent, held: String::new() }
    }

    fn say(&mut self, style: pam::constants::PamMessageStyle, text: &str) -> Result<(), ConversationError> {
        if self.silent {
            self.held.push_str(text);
            self.held.push(' ');
            return Ok(());
        }
        let conv = self.conv.as_ref().ok_or(ConversationError)?;
        conv.send(style, text).map(drop).map_err(|_| ConversationError)
    }
}

impl Prompter for PamPrompter<'_> {
    fn prompt(&mut self, text: &str, echo: bool) -> Result<Zeroizing<String>, ConversationError> {
        let conv = self.conv.as_ref().ok_or(ConversationError)?;
        let style = if echo { PAM_PROMPT_ECHO_ON } else { PAM_PROMPT_ECHO_OFF };
        let text = format!("{}{text}", std::mem::take(&mut self.held));
        match conv.send(style, &text) {
            // Not UTF-8 cannot be a code; the lossy text simply will not match.
            Ok(Some(answer)) => Ok(Zeroizing::new(String::from_utf8_lossy(answer.as_bytes()).into_owned())),
            Ok(None) | Err(_) => Err(ConversationError),
        }
    }

    fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        self.say(PAM_ERROR_MSG, text)
    }

    fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        self.say(PAM_TEXT_INFO, text)
    }
}

#[cfg(test)]
mod tests {
    //! `PamPrompter` over a real `struct pam_conv` whose conversation function
    //! is the test's: the application's side, as sudo or sshd would see it.

    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::ffi::{CStr, CString, c_char, c_int, c_void};

    use pam::conv::Inner;
    use pam::items::Item;

    use super::*;

    /// libpam's `struct pam_message`.
    #[repr(C)]
    struct Message {
        style: c_int,
        text: *const c_char,
    }

    /// libpam's `struct pam_response`.
    #[repr(C)]
    struct Response {
        resp: *mut c_char,
        retcode: c_int,
    }

    type ConverseFn = extern "C" fn(c_int, *mut *const Message, *mut *mut Response, *mut c_void) -> c_int;

    /// libpam's `struct pam_conv`: the layout `pam::conv::Inner` wraps.
    #[repr(C)]
    struct PamConv {
        conv: Option<ConverseFn>,
        appdata: *mut c_void,
    }

    const PAM_SUCCESS: c_int = 0;
    const PAM_CONV_ERR: c_int = 19;

    /// The application: every message it was given (style, text), and its
    /// answers to prompts, in turn; with none left it ends the conversation.
    struct Application {
        shown: Vec<(c_int, String)>,
        answers: VecDeque<&'static str>,
    }

    /// The conversation function; it must not panic (it is called from C).
    extern "C" fn converse(n: c_int, messages: *mut *const Message, responses: *mut *mut Response, appdata: *mut c_void) -> c_int {
        if n != 1 || messages.is_null() || responses.is_null() || appdata.is_null() {
            return PAM_CONV_ERR;
        }
        // SAFETY: appdata is the RefCell<Application> that `converse_with` put in
        // the pam_conv; it outlives every call.
        let app = unsafe { &*appdata.cast::<RefCell<Application>>() };
        let Ok(mut app) = app.try_borrow_mut() else { return PAM_CONV_ERR };
        // SAFETY: libpam's contract: `messages` holds n (here 1) pointers to
        // valid messages, each text NUL-terminated, alive for this call.
        let (style, text) = unsafe {
            let message = &**messages;
            (message.style, CStr::from_ptr(message.text).to_string_lossy().into_owned())
        };
        app.shown.push((style, text));
        let answer = match style {
            PAM_PROMPT_ECHO_OFF | PAM_PROMPT_ECHO_ON => match app.answers.pop_front() {
                Some(answer) => CString::new(answer).ok(),
                None => return PAM_CONV_ERR,
            },
            _ => None,
        };
        // SAFETY: one zeroed response from calloc(3); the module frees it and its
        // text with free(3), as libpam's contract says.
        let response = unsafe { libc::calloc(1, std::mem::size_of::<Response>()) }.cast::<Response>();
        if response.is_null() {
            return PAM_CONV_ERR;
        }
        if let Some(answer) = answer {
            // SAFETY: response is valid (checked above); strdup copies the answer
            // into malloc'd memory the module frees.
            unsafe { (*response).resp = libc::strdup(answer.as_ptr()) };
        }
        // SAFETY: responses is the module's out pointer for this call (checked non-null).
        unsafe { *responses = response };
        PAM_SUCCESS
    }

    /// Run `talk` on a PamPrompter over a conversation with an application
    /// that gives `answers`; what it returned and what the application was shown.
    fn converse_with<T>(silent: bool, answers: &[&'static str], talk: impl FnOnce(&mut PamPrompter<'_>) -> T) -> (T, Vec<(c_int, String)>) {
        let app = RefCell::new(Application { shown: Vec::new(), answers: answers.iter().copied().collect() });
        let raw = PamConv { conv: Some(converse), appdata: std::ptr::from_ref(&app).cast_mut().cast() };
        // SAFETY: PamConv has the layout of libpam's struct pam_conv, which
        // pam::conv::Inner is (repr(C)); `raw` and `app` outlive the prompter,
        // which is dropped before they are.
        let conv = unsafe { Conv::from_raw(std::ptr::from_ref(&raw).cast::<Inner>()) };
        let mut prompter = PamPrompter::new(Some(conv), silent);
        let out = talk(&mut prompter);
        drop(prompter);
        (out, app.into_inner().shown)
    }

    fn answer(reply: Result<Zeroizing<String>, ConversationError>) -> Option<String> {
        reply.ok().map(|a| a.to_string())
    }

    #[test]
    fn under_pam_silent_messages_ride_in_front_of_the_next_prompt_only() {
        let (answers, shown) = converse_with(true, &["123456", "654321"], |p| {
            p.error("Wrong code.").expect("held");
            p.info("A new code was sent.").expect("held");
            let first = answer(p.prompt("Code: ", false));
            let second = answer(p.prompt("Code: ", true));
            p.error("Too many wrong codes.").expect("held");
            (first, second)
        });
        assert_eq!(answers, (Some("123456".into()), Some("654321".into())));
        assert_eq!(
            shown,
            [(PAM_PROMPT_ECHO_OFF, "Wrong code. A new code was sent. Code: ".to_string()), (PAM_PROMPT_ECHO_ON, "Code: ".to_string()),],
            "no message of its own under PAM_SILENT; what is held goes once, in front of the next prompt; \
             what no prompt follows is never shown"
        );
    }

    #[test]
    fn without_pam_silent_messages_are_their_own() {
        let (reply, shown) = converse_with(false, &["123456"], |p| {
            p.error("Wrong code.").expect("shown");
            p.info("A new code was sent.").expect("shown");
            answer(p.prompt("Code: ", false))
        });
        assert_eq!(reply.as_deref(), Some("123456"));
        assert_eq!(
            shown,
            [
                (PAM_ERROR_MSG, "Wrong code.".to_string()),
                (PAM_TEXT_INFO, "A new code was sent.".to_string()),
                (PAM_PROMPT_ECHO_OFF, "Code: ".to_string()),
            ]
        );
    }

    #[test]
    fn an_application_that_ends_the_conversation_is_a_conversation_error() {
        let (reply, shown) = converse_with(true, &[], |p| {
            p.error("Wrong code.").expect("held");
            p.prompt("Code: ", false)
        });
        assert!(reply.is_err());
        assert_eq!(shown, [(PAM_PROMPT_ECHO_OFF, "Wrong code. Code: ".to_string())]);
        let mut without = PamPrompter::new(None, false);
        assert!(without.prompt("Code: ", false).is_err(), "no conversation at all");
        assert!(without.error("Wrong code.").is_err());
    }
}
