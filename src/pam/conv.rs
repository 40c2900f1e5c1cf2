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
