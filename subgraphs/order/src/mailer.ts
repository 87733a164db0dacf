import { createTransport } from "nodemailer";
import { createMailFileWriter } from "./dev-mail-files.ts";
import { composeMessage, type MailMessage } from "./mail-message.ts";

export type { MailMessage };

export interface Mailer {
  send(message: MailMessage): Promise<void>;
  /** Sends many messages; resolves once every one of them is sent (rejects if any is not). */
  sendAll(messages: readonly MailMessage[]): Promise<void>;
  close(): Promise<void> | void;
}

export interface MailerOptions {
  from: string;
  /** SMTP URL; empty writes each message as `<MAIL_DIR>/<id>.eml` instead (development). */
  smtpUrl: string;
  mailDir: string;
}

/**
 * In production nodemailer's SMTP transport sends the composed message as it is (`raw`). In development the
 * same message is written to a `.eml` file any mail client opens (dev-mail-files.ts).
 */
export function createMailer(options: MailerOptions): Mailer {
  if (options.smtpUrl) {
    const smtp = createTransport(options.smtpUrl);
    const sender = /<([^>]+)>/.exec(options.from)?.[1] ?? options.from;
    const send = async (message: MailMessage) =>
      void (await smtp.sendMail({ envelope: { from: sender, to: message.to }, raw: composeMessage(options.from, message) }));
    return {
      send,
      sendAll: async (messages) => void (await Promise.all(messages.map(send))),
      close: () => smtp.close(),
    };
  }
  const files = createMailFileWriter(options.from, options.mailDir);
  return { send: (message) => files.write([message]), sendAll: (messages) => files.write(messages), close: files.close };
}
