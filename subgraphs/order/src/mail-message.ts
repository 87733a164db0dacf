import { createMimeMessage } from "mimetext";

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  /** Stable name of this message (the event that caused it), so a redelivered event rewrites one file. */
  id: string;
}

/**
 * The RFC 5322 message, composed with mimetext (synchronous; nodemailer's streaming composer cost ~0.4 ms of
 * CPU per message, which in a flash sale was most of the order process's work). The text is ASCII (ids,
 * amounts, statuses), sent 7bit; the subject is an encoded word.
 */
export function composeMessage(from: string, { to, subject, text }: Pick<MailMessage, "to" | "subject" | "text">): string {
  const message = createMimeMessage();
  message.setSender(from);
  message.setRecipient(to);
  message.setSubject(subject);
  message.addMessage({ contentType: "text/plain", data: text });
  return message.asRaw();
}
